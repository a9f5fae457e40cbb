"""One module per family of formats ``documents.ingest.parse`` reads: ``pdf``, ``word`` (.docx),
``markup`` (HTML and Markdown), ``plain`` text, ``slides`` (.pptx), ``sheets`` (.xlsx and .csv),
``opendocument`` (.odt), ``rtf`` and ``mail`` (.eml and .msg); ``base`` holds what they share (the
refusal, the limits, zip-bomb checks, building text with sections) and ``table`` how a table's rows
become lines that keep their header and are never cut.

Each reader takes the file (bytes, or text once decoded) and returns its title, its whole text and
its ``Section``s, raising ``ParseError`` for what it will not read. To add a format: a reader here,
then in ``parse.py`` its kind, content type and extensions (and its words in ``ACCEPTED_FORMATS``),
how ``sniff`` recognises its bytes, and its branch in ``parse``. Where a format's unit is not a page
(a slide, a sheet), its sections say so in ``Section.place`` and citations use it.
"""
