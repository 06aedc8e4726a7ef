"""Generate the two sample PDFs of the Northwind Lumen knowledge base.

Writes:
  examples/knowledge/policy/employee-handbook.pdf  (keywords "domain:policy")
  examples/knowledge/it/it-security-standard.pdf   (keywords "domain:it")

Each section is printed on its own page and every page starts with that
section's heading, so page-level extraction can be tested. Only the core
Helvetica font and plain ASCII text are used. The output is deterministic
(fixed creation date), so re-running the script does not change the files.

Usage (needs fpdf2; pypdf is only used by --check):
    python examples/make_sample_pdfs.py          # write the PDFs
    python examples/make_sample_pdfs.py --check  # write, then verify with pypdf
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

KNOWLEDGE = Path(__file__).resolve().parent / "knowledge"
CREATED = dt.datetime(2026, 9, 1, 9, 0, 0, tzinfo=dt.UTC)

# A section is a heading plus a body written as a tiny Markdown subset: blocks are
# separated by blank lines; "## " starts a sub-heading; "- " or "1. " starts a list
# item (continuation lines are indented); anything else is a paragraph.
Section = tuple[str, str]
_ITEM = re.compile(r"(?:- |\d+\. )")


@dataclass(frozen=True)
class Doc:
    path: Path
    title: str
    subject: str
    keywords: str
    author: str
    footer: str
    sections: list[Section]


HANDBOOK: list[Section] = [
    (
        "1. Welcome to Northwind Lumen",
        """
Northwind Lumen designs, makes and services smart lighting, building controls and energy
management systems for commercial customers in more than 30 countries. Our headquarters are at
Aire Quay in Leeds, with major offices in Lisbon and Toronto, manufacturing sites in the North
of England and northern Portugal, and field service teams across Europe and North America.
Around 40,000 associates work for the company.

This handbook is a short overview of what you need to know as an associate: how we work, your
time off, how we expect everyone to behave, your pay and benefits, and who to contact. It is a
summary. The full policies in Lumen People and on the intranet always take precedence if there
is any difference, and local supplements apply in Portugal and Canada where the law requires.

## Our behaviours

- Customer First: we keep our promises and are honest about what we can deliver.
- Own It: we take responsibility for our decisions and their consequences.
- Better Together: we treat everyone with respect and include different views.
- Speak Up: we raise concerns early, and we listen when others raise them.

## Where to find things

Lumen People is our HR portal. Use it to book leave, report sickness, see payslips, choose
benefits in Lumen Choices, claim expenses in Lumen Expenses and record goals in Lumen Growth.
The IT Help Hub (help.northwindlumen.example, ext 4357) handles all IT support. Switchboard,
the company assistant in Microsoft Teams and Slack, can answer many everyday questions from
our policies and point you to the right document.

The handbook is reviewed every year by the People Team. This is the 2026 edition.
""",
    ),
    (
        "2. Working Hours and Attendance",
        """
Standard full-time hours are 37.5 hours per week in the UK and Toronto, and 40 hours per week
in Lisbon, normally worked Monday to Friday. Your contract sets out your hours. Site-based
roles in manufacturing and the warehouse work the shift patterns published for each site.

## Core hours and flexibility

Core hours are 10:00 to 16:00 local time. Outside core hours you can flex your start and
finish times, as long as you work your contracted hours and your team's needs are met. Take an
unpaid lunch break of at least 30 minutes when working more than 6 hours.

## Hybrid working

Most office-based associates work hybrid, spending at least 2 days per week in the office,
averaged over a calendar month, including a weekly team anchor day. New joiners spend at least
3 days a week in the office for their first 3 months. Working from abroad is limited to 20
working days per calendar year and needs an approved Work From Abroad Request (form HR-31).
See the Remote and Hybrid Working Policy.

## Overtime

Overtime must be agreed with your manager in advance. Eligible roles are paid at time and a
half (payslip code OT150), or double time on bank and public holidays (OT200). Senior and
salaried professional roles are not paid overtime, but managers can agree time off in lieu for
exceptional extra hours.

## Absence

If you cannot work because you are ill, call your manager within the first hour of your usual
start time and no later than 10:00, and record the absence in Lumen People the same day. In
the UK you self-certify for up to 7 calendar days and need a fit note from day 8. Unauthorised
absence is unpaid and may lead to disciplinary action.

## Probation

New associates complete a 6-month probation period with a formal check-in at 3 months. Notice
periods during probation are one week on either side unless your contract says otherwise.
""",
    ),
    (
        "3. Holidays and Time Off",
        """
The leave year runs from 1 January to 31 December. Book all leave in Lumen People under Time
Off, giving notice of at least twice the length of the leave.

## Annual leave (holiday entitlement)

- UK: 25 days plus 8 bank holidays, rising to 26 days after 3 years, 28 days after 5 years and
  30 days after 10 years of service.
- Lisbon: 23 working days (22 statutory plus one company day) plus public holidays.
- Toronto: 20 days, rising to 25 days after 5 years, plus statutory holidays.
- Everyone: one extra paid Lumen Day each year, intended for your birthday month.

You can carry over up to 5 unused days into the next year; they must be used by 31 March. UK
and Toronto associates can buy up to 5 extra days in the Lumen Choices window in November.
Leave cannot be sold.

## Other paid time off

- Compassionate leave: up to 5 days for the death of a close family member, and 2 weeks for
  the loss of a child.
- Volunteering: 2 days per year for approved community and charity work.
- Jury service and public duties: paid at full salary for up to 10 days, then as required by
  law.
- Emergency dependant leave: reasonable paid time off, normally up to 2 days, to deal with an
  unexpected problem involving a dependant.

## Family leave

Birth parents and primary adopters with 26 weeks' service receive 20 weeks at full basic
salary, then statutory pay. Partners receive 6 weeks at full basic salary, which can be taken
in up to three blocks within 12 months. Notify People Services using the Family Leave
Notification form (HR-17) at least 15 weeks before the expected week of childbirth. Lisbon and
Toronto follow local law with company top-ups; see the Parental and Family Leave policy.
""",
    ),
    (
        "4. Conduct and Behaviour",
        """
Our Code of Conduct sets the standard for how we behave. Every associate confirms each year,
by 31 March, that they have read it and completes the Code of Conduct training. The main
points are summarised here.

## Respect

We do not tolerate harassment, bullying, discrimination or victimisation, in person or online,
including at work social events. Raise concerns with your manager, your HR Business Partner or
People Services.

## Gifts, hospitality and conflicts of interest

You may accept or give gifts and hospitality worth up to GBP 50 (EUR 60 or CAD 85) per
occasion. Anything above that needs your manager's approval and must be recorded in the Gifts
and Hospitality Register using form CC-04 within 5 working days. Cash and gift cards are never
acceptable. Declare conflicts of interest when they arise and in the annual declaration every
January.

## Using company IT and information

- Follow the Acceptable Use Policy and the Information Security Policy.
- Store work only in OneDrive, SharePoint and Teams; never in personal cloud storage.
- Only use approved AI tools (Lumen Copilot and Switchboard) with non-public information.
- Report security incidents, including lost devices and phishing clicks, to the Security
  Operations Centre on ext 4911 within 1 hour.

## Dress and appearance

There is no formal dress code in our offices. Dress appropriately for your day, including when
meeting customers. Personal protective equipment is mandatory in manufacturing areas and on
customer installation sites.

## Speaking up

If you are worried that something is wrong, speak up. Lumen Speak Up is an independent service
available 24/7 at speakup.northwindlumen.example or on 0808 157 0440 (UK). You can report
anonymously, and retaliation is not tolerated.

## Disciplinary and grievance procedures

Concerns about conduct or performance are handled fairly under the Disciplinary procedure. If
you have a complaint about your work, use the Grievance procedure. You may be accompanied by a
colleague or trade union representative at formal meetings under either procedure.
""",
    ),
    (
        "5. Pay and Benefits Summary",
        """
## Pay

UK and Lisbon associates are paid monthly on the 25th; December pay is brought forward to 20
December. Lisbon associates receive 14 payments a year. Toronto associates are paid bi-weekly
on alternate Fridays. Payslips are published in Lumen People under Pay > Payslips 3 working
days before payday. Changes approved by the 10th of the month are included in that month's
payroll.

## Core benefits

- Pension (UK): the company contributes double your contribution, up to 10% of basic salary,
  with a minimum employee contribution of 3%.
- Private medical insurance for yourself, free of charge.
- Life assurance of 4 times basic salary from your first day.
- Income protection of 75% of basic salary after 26 weeks of long-term absence.
- ClearPath Employee Assistance Programme: free, confidential support 24/7 on 0808 157 0311.
- Wellbeing allowance: GBP 300, EUR 340 or CAD 500 each year, claimed in Lumen Choices.

Flexible benefits are chosen in Lumen Choices during the window from 1 to 30 November and take
effect on 1 January. New joiners have 30 days from their start date.

## Sick pay

UK company sick pay depends on service, from 2 weeks at full pay in the first 6 months up to
26 weeks at full pay and 26 weeks at half pay after 5 years.

## Expenses

Claim business expenses in Lumen Expenses within 60 days, with itemised receipts and the
correct category code. For example, meals while travelling are claimed under TRV-03 up to the
daily per-diem limit (UK GBP 45, Europe EUR 55, Canada CAD 80, USA USD 85). Claims approved by
the 10th are paid with that month's salary.
""",
    ),
    (
        "6. Key Contacts",
        """
Most questions can be answered in Lumen People, on the intranet or by asking Switchboard. If
you need a person, use the contacts below.

## People and pay

- People Services (HR questions, Ask People cases): ext 7200, people@northwindlumen.example
- Payroll Team: ext 7240 (Toronto ext 7245), payroll@northwindlumen.example
- Reward and Benefits (Lumen Choices): ext 7260, benefits@northwindlumen.example
- Finance Shared Services (expenses): ext 7310, expenses@northwindlumen.example

## IT and security

- IT Help Hub: help.northwindlumen.example, ext 4357, +44 113 496 0357 from outside the
  network. Phone support is available 24/7 for urgent issues.
- Security Operations Centre (incidents, lost devices, phishing clicks): ext 4911, +44 113 496
  0911, security@northwindlumen.example, 24/7.
- Phishing reports: use the Report Phish button in Outlook, or phish@northwindlumen.example.

## Travel, compliance and privacy

- Orbital Travel (bookings): travel.northwindlumen.example, +44 113 496 0820
- 24-hour travel assistance: +44 113 496 0999 (insurance policy NWL-TI-2026)
- Legal and Compliance: ext 7500, compliance@northwindlumen.example
- Data Protection Officer: dpo@northwindlumen.example
- Lumen Speak Up: speakup.northwindlumen.example, 0808 157 0440

## Wellbeing

- ClearPath Employee Assistance Programme: 0808 157 0311, app company code LUMEN40
- Mental health first aiders: listed in Lumen People under Wellbeing

In an emergency at any office, call the local emergency number first (999 in the UK, 112 in
Portugal, 911 in Canada), then inform reception.
""",
    ),
]

SECURITY_STANDARD: list[Section] = [
    (
        "1. Purpose and Scope",
        """
This IT Security Standard (reference NWL-STD-IT-001, version 3.2) sets the minimum technical
and procedural controls that put the Northwind Lumen Information Security Policy into
practice. It is owned by the Chief Information Security Officer (CISO) and maintained by the
Information Security Office.

## Scope

The standard applies to all company-owned and company-managed devices, networks, cloud
services and applications, and to everyone who uses them: associates, contractors, temporary
workers and third parties with access to company systems. It covers all locations, including
the Leeds headquarters, the Lisbon and Toronto offices, manufacturing sites, customer sites
and home working.

## How to read this standard

- MUST indicates a mandatory requirement. Deviations need an approved exception.
- SHOULD indicates good practice that is expected unless there is a sound reason not to follow
  it.
- Numbers in this document (time limits, lengths, durations) are minimums unless stated
  otherwise.

## Structure

Section 2 covers device security, section 3 network security, section 4 data classification
and handling, section 5 incident response and section 6 access management, exceptions and
compliance.

## Review

The standard is reviewed at least once a year, and after any major incident or significant
change in technology or regulation. Questions about this standard can be sent to
infosec@northwindlumen.example.
""",
    ),
    (
        "2. Device Security",
        """
Only company-managed devices may be used to access Confidential or Restricted information or
internal systems. Devices are enrolled in central management before they are issued.

## Laptops and desktops

- Full-disk encryption MUST be enabled: BitLocker on Windows, FileVault on macOS.
- Screens MUST lock automatically after 5 minutes of inactivity.
- Endpoint protection MUST be running, with definitions no more than 3 days old.
- Users do not have administrator rights. Temporary elevation is available through Elevate for
  60 minutes at a time, with a recorded reason.
- USB mass storage is blocked by default. Approved encrypted devices may be allowed by
  exception.
- Standard laptops are replaced every 4 years, performance laptops and Macs every 3 years.
  Returned devices are wiped to a recognised standard before reuse or recycling.

## Security updates

Security updates MUST be installed within the following times of release:

- Critical: 7 days on user devices; 72 hours on internet-facing systems.
- High: 14 days.
- Medium: 30 days. Low: next scheduled maintenance.

A laptop that has encryption switched off, is more than 14 days behind on security updates, or
has out-of-date endpoint protection fails the device health check and is refused by the VPN
with the message GP-HIP-01 until it is fixed.

## Mobile devices

Company phones are fully managed and MUST use a PIN of at least 6 digits or biometrics.
Personal phones and tablets may access email, Teams and Slack only through the official apps
with Intune app protection, which allows company data to be wiped without touching personal
data.

## Lost and stolen devices

Loss or theft of any device that holds or can access company information MUST be reported to
the Security Operations Centre (ext 4911) within 1 hour. The SOC can lock and wipe the device
remotely.
""",
    ),
    (
        "3. Network Security",
        """
Company networks are segmented so that a problem in one area cannot easily spread to another.

## Office Wi-Fi

- NWL-Corp: company-managed devices only, using certificate-based authentication (EAP-TLS).
  Certificates are valid for 12 months and renew automatically.
- NWL-Staff-Personal: associates' own devices, signed in with work credentials and MFA.
  Internet and Microsoft 365 access only; up to 3 devices per associate.
- NWL-Guest: visitors, with sponsor-issued vouchers valid for up to 5 days. Internet only,
  filtered, limited to 10 Mbps per device.
- NWL-IoT: building systems only, hidden and isolated from all other networks.

Personal routers, access points and range extenders MUST NOT be connected in any office. Rogue
devices are detected and disabled automatically.

## Remote access

- Remote access to internal systems MUST use the GlobalProtect VPN through the portal
  vpn.northwindlumen.example, with multi-factor authentication.
- VPN sessions last up to 12 hours and disconnect after 60 minutes of inactivity.
- Split tunnelling is limited to Microsoft Teams media traffic.
- The VPN is available only on company-managed devices that pass the health check.
- Connections from sanctioned countries are blocked.
- Users MUST connect to the VPN before using public or hotel Wi-Fi.

## Perimeter and internal controls

Firewall rule changes MUST be approved through the Change Advisory Board and are reviewed
every 6 months. Internet-facing services are scanned for vulnerabilities weekly and
penetration tested at least once a year. Administrative interfaces of servers and network
devices MUST NOT be reachable from the internet.

## Logging

Network, VPN and security event logs are sent to the SOC's monitoring platform and kept for 1
year. Guest Wi-Fi logs are kept for 90 days.
""",
    ),
    (
        "4. Data Classification and Handling",
        """
All information MUST be classified as Public, Internal, Confidential or Restricted. Unlabelled
information is treated as Internal. Sensitivity labels in Microsoft 365 MUST be applied to
documents and emails classified Confidential or Restricted.

## Public

Approved for release outside the company. No handling restrictions, but only authorised people
may publish it.

## Internal

- Store in OneDrive, SharePoint, Teams or approved business systems.
- May be shared with contractors under contract; not with the public.
- Dispose of paper copies in confidential waste bins.

## Confidential

- Access limited to people with a business need; sharing links restricted to named people,
  with an expiry of no more than 30 days for external recipients.
- Encrypted automatically by the Confidential label; MUST NOT be sent to personal email or
  stored on personal devices.
- Print only when necessary and collect immediately from FollowMe printers.
- May be used with approved AI tools (Lumen Copilot, Switchboard), never with public AI
  services.

## Restricted

- Access limited to named individuals approved by the information owner; access reviewed every
  quarter.
- MUST be stored only in designated Restricted sites or systems, with encryption and access
  logging.
- MUST NOT be printed without the information owner's agreement, and MUST NOT be used with any
  AI tool.
- External sharing requires approval from the information owner and the Information Security
  Office.

## Retention and disposal

Information MUST be kept and deleted according to the retention schedule in the Data Retention
and Privacy Policy. Electronic media are destroyed by a certified partner; certificates of
destruction are kept for 7 years.
""",
    ),
    (
        "5. Incident Response",
        """
A security incident is any event that could harm the confidentiality, integrity or
availability of company information or systems.

## Reporting

Every suspected incident MUST be reported to the Security Operations Centre (SOC) within 1
hour of discovery: ext 4911, +44 113 496 0911, or security@northwindlumen.example. The SOC is
staffed 24 hours a day, 7 days a week. Suspicious emails are reported with the Report Phish
button and logged under ticket category SEC-PH.

## Severity levels

- SEV-1 Critical: ransomware, confirmed theft of Restricted data, or compromise of a critical
  system. SOC response within 15 minutes; CISO informed immediately; major incident team
  convened.
- SEV-2 High: compromised user account, malware on several devices, or personal data breach
  affecting many people. Response within 30 minutes.
- SEV-3 Medium: single infected device, lost encrypted laptop, or phishing link clicked
  without credential entry. Response within 4 hours.
- SEV-4 Low: policy breach with no apparent harm, or blocked attack attempt. Response within 1
  working day.

## Response phases

1. Identify: confirm the incident, assign a severity and an incident lead.
2. Contain: isolate affected devices and accounts, for example by disconnecting a laptop from
  the network without switching it off.
3. Eradicate: remove the cause, such as malware or a compromised password.
4. Recover: restore systems and data from known-good backups and monitor closely.
5. Review: hold a post-incident review within 10 working days for SEV-1 and SEV-2 incidents,
  and track the actions to completion.

## Personal data

If personal data may be affected, the SOC informs the Data Protection Officer straight away.
The DPO decides whether the regulator must be notified, which must happen within 72 hours of
the company becoming aware of the breach.
""",
    ),
    (
        "6. Access Management, Exceptions and Compliance",
        """
## Accounts and authentication

- Every user has a unique account. Shared accounts are not permitted, except for managed
  service accounts whose passwords are held in the privileged access vault.
- Passwords MUST be at least 14 characters and are checked against known breached passwords
  (error PW-409). They do not expire on a schedule, but MUST be changed immediately if
  compromise is suspected.
- Accounts lock for 15 minutes after 10 failed sign-in attempts.
- Multi-factor authentication with Microsoft Authenticator (number matching) or a FIDO2
  security key is mandatory for remote access, cloud services and all administrative access.
  SMS and voice calls are not accepted.

## Access control

- Access follows least privilege and is approved by the information owner.
- Access to Confidential and Restricted systems is reviewed every quarter.
- Managers MUST request removal of access within 1 working day of a role change.
- Leavers' accounts are disabled automatically at the end of their last working day.
- Administrators use a separate privileged account, protected by a security key, for
  administrative tasks only.

## Exceptions

Where a requirement cannot be met, a Security Exception Request (form ISX-01) MUST be raised
in the IT Help Hub. Exceptions are risk-assessed by the Information Security Office, approved
by the CISO where Restricted information is involved, granted for no more than 12 months, and
recorded in the exception register.

## Compliance

Compliance with this standard is monitored through automated controls, quarterly reports to
the Technology Risk Committee, and internal audits. Breaches may lead to withdrawal of access
and disciplinary action under the Information Security Policy.

## Document control

Reference NWL-STD-IT-001. Version 3.2, approved by the CISO, effective 1 September 2026. Next
review due by 31 August 2027.
""",
    ),
]

DOCS = [
    Doc(
        path=KNOWLEDGE / "policy" / "employee-handbook.pdf",
        title="Northwind Lumen Employee Handbook",
        subject="Overview of working hours, time off, conduct, pay and benefits, and contacts",
        keywords="domain:policy",
        author="People Team",
        footer="Northwind Lumen Employee Handbook, 2026 edition",
        sections=HANDBOOK,
    ),
    Doc(
        path=KNOWLEDGE / "it" / "it-security-standard.pdf",
        title="IT Security Standard",
        subject="Device, network, data classification, incident response and access controls",
        keywords="domain:it",
        author="Information Security Office",
        footer="IT Security Standard NWL-STD-IT-001 v3.2",
        sections=SECURITY_STANDARD,
    ),
]


class _PDF(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text

    def footer(self) -> None:  # called by fpdf2 when each page is closed
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 8, f"{self.footer_text} - Page {self.page_no()} of {{nb}}", align="C")


def blocks(body: str) -> list[tuple[str, str]]:
    """Split a section body into (kind, text) blocks; kind is "h", "li" or "p"."""
    out: list[tuple[str, str]] = []
    for chunk in body.strip().split("\n\n"):
        lines = chunk.strip("\n").splitlines()
        if lines[0].startswith("## "):
            out.append(("h", " ".join(line.strip() for line in lines)[3:]))
        elif _ITEM.match(lines[0]):
            for line in lines:
                if _ITEM.match(line):
                    out.append(("li", line.strip()))
                elif line.startswith("  "):
                    out[-1] = ("li", out[-1][1] + " " + line.strip())
                else:
                    raise ValueError(f"list continuation must be indented: {line!r}")
        else:
            out.append(("p", " ".join(line.strip() for line in lines)))
    return out


def _check_ascii(doc: Doc) -> None:
    for heading, body in doc.sections:
        for text in (heading, body):
            bad = sorted({ch for ch in text if ord(ch) > 126})
            if bad:
                raise ValueError(f"{doc.path.name}: non-ASCII {bad!r} in {heading!r}")


def build(doc: Doc) -> int:
    """Write one PDF; return its page count."""
    _check_ascii(doc)
    pdf = _PDF(doc.footer)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(doc.title)
    pdf.set_subject(doc.subject)
    pdf.set_keywords(doc.keywords)
    pdf.set_author(doc.author)
    pdf.set_creator("examples/make_sample_pdfs.py")
    pdf.set_creation_date(CREATED)

    for heading, body in doc.sections:
        pdf.add_page()
        first_page = pdf.page_no()
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        for kind, text in blocks(body):
            if kind == "h":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 11.5)
                pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1)
            elif kind == "li":
                pdf.set_font("Helvetica", "", 10.5)
                pdf.set_x(pdf.l_margin + 4)
                pdf.multi_cell(0, 5.2, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(0.8)
            else:
                pdf.set_font("Helvetica", "", 10.5)
                pdf.multi_cell(0, 5.2, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(2)
        if pdf.page_no() != first_page:
            raise ValueError(f"{doc.path.name}: section {heading!r} overflows one page")

    doc.path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(doc.path))
    return pdf.page_no()


def check(doc: Doc) -> None:
    """Verify with pypdf: metadata, page count, and each page starting with its heading."""
    from pypdf import PdfReader

    def fail(message: str) -> None:
        raise SystemExit(f"{doc.path.name}: {message}")

    reader = PdfReader(str(doc.path))
    meta = reader.metadata
    if meta is None or meta.title != doc.title:
        fail(f"title is {meta and meta.title!r}, expected {doc.title!r}")
    if (meta.get("/Keywords") or "") != doc.keywords:
        fail(f"keywords are {meta.get('/Keywords')!r}, expected {doc.keywords!r}")
    if len(reader.pages) != len(doc.sections) or len(reader.pages) < 4:
        fail(f"{len(reader.pages)} pages for {len(doc.sections)} sections")
    for number, (page, (heading, _)) in enumerate(zip(reader.pages, doc.sections), start=1):
        text = (page.extract_text() or "").strip()
        if not text.startswith(heading):
            fail(f"page {number} starts with {text[:60]!r}, expected {heading!r}")
        if len(text.split()) < 150:
            fail(f"page {number} has only {len(text.split())} words")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the PDFs with pypdf")
    args = parser.parse_args(argv)
    for doc in DOCS:
        pages = build(doc)
        print(f"wrote {doc.path.relative_to(KNOWLEDGE.parent.parent)} ({pages} pages)")
        if args.check:
            check(doc)
            print(f"  checked: title, keywords and {pages} page headings extract correctly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
