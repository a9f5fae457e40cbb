"""Where a passage is, worded once: the chat's sources, a reopened answer and the passage page all
say it this way."""

from __future__ import annotations


def passage_place(title: str, section: str, anchor: str) -> tuple[str, str]:
    """(section, place) of a passage under its document's ``title``, each "" when it would repeat
    what is already said: the section is the heading path less the title itself; the place for people
    ("page 3") is left out when the title or the section says it, and folded into the section when it
    names the section's last heading ("3 Handling information, page 3" is said once)."""
    parts = [p.strip() for p in section.split(" > ") if p.strip()]
    if parts and parts[0].casefold() == title.strip().casefold():
        parts = parts[1:]
    shown = " > ".join(parts)
    place = anchor.strip()
    said = {title.strip().casefold(), shown.casefold(), *(f"section {p}".casefold() for p in parts[-1:])}
    if not place or place.casefold() in said:
        return shown, ""
    if parts and parts[-1].casefold() in place.casefold():
        return " > ".join([*parts[:-1], place]), ""
    return shown, place
