"""Rebuild the sample collection's Word and PDF files from the text in this script.

    python documents/sample/build_binary_samples.py

The outputs (annual-leave.docx, it-security.pdf) are committed, so this runs only when their text
changes. Needs python-docx (a runtime dependency) and fpdf2 (a dev dependency). Everything here is
fictional guidance for the Department for Digital Examples, written for the Humphrey project.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

LEAVE_TITLE = "Annual leave and other absence"
LEAVE = [
    ("Heading 1", "1 Annual leave"),
    ("Heading 2", "1.1 How much leave you get"),
    (
        "",
        "Full-time staff at the Department for Digital Examples (DDE) get 25 days' annual leave a year, rising to "
        "30 days after 5 years' continuous service, plus 8 public holidays and 1 privilege day for the King's "
        "birthday. Part-time staff get leave in proportion to their hours, calculated in hours rather than days.",
    ),
    ("Heading 2", "1.2 The leave year"),
    ("", "The leave year runs from 1 April to 31 March. Leave starting in one leave year counts against that year."),
    ("Heading 2", "1.3 Booking leave"),
    (
        "",
        "Book leave in the HR system and wait for your manager's approval before making plans. Give notice of at "
        "least twice the length of the leave: for example, 2 weeks' notice for 1 week off. Managers should reply "
        "within 5 working days.",
    ),
    ("Heading 2", "1.4 Carrying leave over"),
    (
        "",
        "You may carry over up to 5 days of unused leave into the next leave year. More than 5 days may be carried "
        "over only if you could not take it because of sickness, maternity, paternity, adoption or shared parental "
        "leave, or in exceptional business circumstances agreed in writing by a Director.",
    ),
    ("Heading 2", "1.5 Buying and selling leave"),
    (
        "",
        "Once a year, in March, you may ask to buy up to 5 extra days of leave (paid for from your salary over the "
        "following year) or to sell up to 3 days. Selling leave is allowed only if you would still take at least "
        "20 days that year.",
    ),
    ("Heading 1", "2 Other paid leave"),
    (
        "table",
        "Type of leave|How much|Who approves\n"
        "Special leave for volunteering|Up to 3 days a year|Line manager\n"
        "Reserve forces training|Up to 15 days a year|Deputy Director\n"
        "Bereavement leave (close relative)|Up to 5 days|Line manager\n"
        "Moving house|1 day a year|Line manager\n"
        "Jury service|As long as required|HR, with the court summons",
    ),
    ("Heading 1", "3 Sickness absence"),
    (
        "",
        "If you are ill, tell your manager by phone or video call before 10am on your first day of absence, and "
        "every working day after that unless agreed otherwise. For absences of more than 7 calendar days you need "
        "a fit note from a doctor. Record every absence in the HR system when you return.",
    ),
    ("Heading 1", "4 Contact"),
    ("", "Questions about leave go to HR Operations: hr.ops@dde.example.gov.uk."),
]

SECURITY_TITLE = "IT security: rules for everyone"
SECURITY_PAGES = [
    (
        "1 Passwords and sign-in",
        "Use a passphrase of at least 3 random words and 14 characters for your DDE account. Never reuse it "
        "anywhere else. Multi-factor authentication (MFA) is required on every DDE account; use the authenticator "
        "app, not text messages, where you can.\n\n"
        "Never tell anyone your password, including the IT service desk, who will never ask for it. If you think "
        "someone knows your password, change it at once and report it as a security incident.",
    ),
    (
        "2 Devices and software",
        "Only DDE laptops and phones may be used for DDE work. Personal devices may be used only for email and "
        "calendar through the approved app, and never for OFFICIAL-SENSITIVE material.\n\n"
        "Install software only from the DDE software centre. To ask for something that is not there, raise a "
        "software request; the security team assesses it within 10 working days.\n\n"
        "Lock your screen (Windows key and L) whenever you leave your device, even in the office.",
    ),
    (
        "3 Handling information",
        "Most of our information is OFFICIAL. Mark information OFFICIAL-SENSITIVE when its loss would cause "
        "real harm, for example personal data about a named person, commercial bids or draft policy not yet "
        "announced.\n\n"
        "Send OFFICIAL-SENSITIVE information only to people who need it, put OFFICIAL-SENSITIVE in the email "
        "subject line, and never forward it to a personal email account. Do not paste any DDE information "
        "into public AI tools or translation websites.\n\n"
        "Removable media (USB sticks and external drives) are blocked on DDE laptops. Use the approved file "
        "sharing service to exchange files with other organisations.",
    ),
    (
        "4 Reporting incidents",
        "Report a lost or stolen device, a suspicious email, or information sent to the wrong person within "
        "1 hour of noticing it. Call the IT service desk on 0300 000 0000 (24 hours) or use the 'Report an "
        "incident' form on the intranet.\n\n"
        "Forward suspicious emails as attachments to phishing@dde.example.gov.uk and then delete them. Reporting "
        "quickly is what matters: nobody is disciplined for reporting their own honest mistake.",
    ),
]


def build_docx() -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = LEAVE_TITLE
    document.add_paragraph(LEAVE_TITLE, style="Title")
    document.add_paragraph(
        "Department for Digital Examples. Fictional guidance written for the Humphrey project. Version 3.2, April 2026."
    )
    for style, text in LEAVE:
        if style == "table":
            rows = [row.split("|") for row in text.split("\n")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        elif style:
            document.add_paragraph(text, style=style)
        else:
            document.add_paragraph(text)
    document.save(HERE / "annual-leave.docx")


def build_pdf() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(SECURITY_TITLE)
    pdf.set_author("Department for Digital Examples")
    pdf.set_creation_date(__import__("datetime").datetime(2026, 3, 1, tzinfo=__import__("datetime").UTC))
    for number, (heading, body) in enumerate(SECURITY_PAGES):
        pdf.add_page()
        if number == 0:
            pdf.set_font("helvetica", "B", 18)
            pdf.multi_cell(0, 10, SECURITY_TITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=10)
            pdf.multi_cell(
                0,
                6,
                "Department for Digital Examples. Fictional guidance written for the Humphrey project.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
            pdf.ln(4)
        pdf.start_section(heading)
        pdf.set_font("helvetica", "B", 14)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(HERE / "it-security.pdf"))


if __name__ == "__main__":
    build_docx()
    build_pdf()
    print("wrote annual-leave.docx and it-security.pdf")
