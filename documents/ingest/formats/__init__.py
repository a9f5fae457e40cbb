"""One module per family of formats ``documents.ingest.parse`` reads: ``pdf``, ``word`` (.docx),
``markup`` (HTML and Markdown) and ``plain`` text; ``base`` holds what they share.

Each reader takes the file (bytes, or text once decoded) and returns its title, its whole text and
its ``Section``s, raising ``ParseError`` for what it will not read. To add a format: a reader here,
then in ``parse.py`` its kind, content type and extensions, how ``sniff`` recognises its bytes, and
its branch in ``parse``.
"""
