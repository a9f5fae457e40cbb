"""The model-facing core: plain Python, no Django imports. Dataclasses in, events out.

Django adapts at the edges (``assistant.services``, ``assistant.intake``); this package renders prompts, parses
citations, condenses follow-ups, coalesces deltas and renders Markdown, and can be used from a
command, a task or a benchmark without a database.
"""
