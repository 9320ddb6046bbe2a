"""The certificate as a printable A4 PDF: every Annex I element (CERT-02), the import confirmation part (CERT-04),
the verification code in large type and the QR code that carries the signed certificate (compact.py).

Drawn from the signed payload (what the QR code carries, so the paper and the code say the same) and the node's
record (status, confirmation). Labels are English with French beside them (CERT-02 item 4: any language with an
English translation). Core PDF fonts only: no font file to ship, no network; text outside Latin-1 is folded to
its closest Latin-1 spelling (Łódź → Lodz) or replaced, never a crash.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from kpcs.certificates import rules

QR_SIZE = 58.0  # mm: at QR version 22-25 (with its quiet zone) a module is about 0.5 mm: easy to scan
QR_ERROR = "m"  # 15 % of the code may be damaged (a fold, a stamp) and it still reads
MARGIN = 15.0
DARK = (0, 0, 0)
GREY = (90, 90, 90)


def latin1(text: Any) -> str:
    """What a core PDF font can draw: Latin-1 as it is, other letters without their accents, the rest as '?'."""
    out = []
    for char in str(text):
        if ord(char) < 256:
            out.append(char)
            continue
        folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(folded if folded and all(ord(c) < 256 for c in folded) else {"Ł": "L", "ł": "l", "Đ": "D",
                                                                                  "đ": "d", "Ø": "O", "ø": "o",
                                                                                  "Œ": "OE", "œ": "oe"}.get(char, "?"))
    return "".join(out)


class _Document(FPDF):
    def __init__(self, number: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.number = number
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 5)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font("Helvetica", "", 7)
        self.set_text_color(*GREY)
        self.cell(0, 4, latin1(f"{rules.TITLE} {self.number} - page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(*DARK)

    def text_line(self, text: str, size: float = 9, style: str = "", height: float = 4.6) -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, height, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, english: str, french: str) -> None:
        self.ln(1.5)
        self.set_font("Helvetica", "B", 10.5)
        self.cell(0, 6, latin1(english), new_x=XPos.END)
        self.set_font("Helvetica", "I", 9.5)
        self.set_text_color(*GREY)
        self.cell(0, 6, latin1(f"  /  {french}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*DARK)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1)

    def field(self, english: str, french: str, value: str, width: float | None = None) -> None:
        """A label (English, French beneath in grey) and its value beside it."""
        label_w = 52.0
        width = width or (self.w - self.l_margin - self.r_margin)
        self.keep(max(self.lines(label_w, english, 8.5) * 3.6 + 3.1,
                      self.lines(width - label_w, value or "-", 9.5) * 4.3) + 0.7)
        x, y = self.get_x(), self.get_y()
        self.set_font("Helvetica", "B", 8.5)
        self.multi_cell(label_w - 2, 3.6, latin1(english), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font("Helvetica", "I", 7)
        self.set_text_color(*GREY)
        self.multi_cell(label_w - 2, 3.1, latin1(french), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_text_color(*DARK)
        label_end = self.get_y()
        self.set_xy(x + label_w, y)
        self.set_font("Helvetica", "", 9.5)
        self.multi_cell(width - label_w, 4.3, latin1(value or "-"), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_xy(x, max(label_end, self.get_y()) + 0.7)

    def lines(self, width: float, text: str, size: float, style: str = "") -> int:
        """How many lines `text` takes in a column of `width` mm."""
        self.set_font("Helvetica", style, size)
        lines = self.multi_cell(width, 4, latin1(text), dry_run=True, output="LINES")
        return len(lines) if isinstance(lines, list) else 1

    def keep(self, height: float) -> None:
        """Start a new page unless `height` mm still fit on this one: nothing is split across pages."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()

    def qr_code(self, text: str, x: float, y: float, size: float) -> None:
        """The QR code drawn as vector rectangles, one per run of dark modules: sharp at any print resolution."""
        code = segno.make(text, error=QR_ERROR, micro=False)
        rows = [list(row) for row in code.matrix_iter(scale=1, border=4)]
        module = size / len(rows)
        self.set_fill_color(255, 255, 255)
        self.rect(x, y, size, size, style="F")
        self.set_fill_color(*DARK)
        for r, row in enumerate(rows):
            c = 0
            while c < len(row):
                if row[c]:
                    start = c
                    while c < len(row) and row[c]:
                        c += 1
                    # a hair wider than the run so that neighbouring runs leave no white seam between them
                    self.rect(x + start * module, y + r * module, (c - start) * module + 0.01, module + 0.01,
                              style="F")
                else:
                    c += 1


def _party(party: Mapping[str, Any] | None, *, licence: bool = False) -> str:
    if not isinstance(party, Mapping):
        return ""
    lines = [str(party.get("name", "")), str(party.get("address", ""))]
    if licence and party.get("licence"):
        lines.append(f"Licence: {party['licence']}")
    return "\n".join(line for line in lines if line)


def _origin(origin: Any) -> str:
    if not isinstance(origin, Mapping):
        return str(origin or "")
    countries = ", ".join(str(c) for c in origin.get("countries", []))
    if origin.get("kind") == "mixed":
        return "Mixed / mixte" + (f" ({countries})" if countries else "")
    return countries


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str) and "T" in value:
        return value.replace("T", " ")[:16] + " UTC"
    return str(value or "")


STATUS_TEXT = {
    "issued": ("ISSUED - awaiting import confirmation", "DÉLIVRÉ - en attente de la confirmation d'importation"),
    "confirmed": ("CONFIRMED - receipt confirmed by the importing authority", "CONFIRMÉ - réception confirmée"),
    "rejected": ("REJECTED by the importing authority", "REJETÉ par l'autorité importatrice"),
    "cancelled": ("CANCELLED by the issuing authority", "ANNULÉ par l'autorité émettrice"),
    "expired": ("EXPIRED - not valid for import", "EXPIRÉ - non valable pour l'importation"),
}


def render(record: Mapping[str, Any], payload: Mapping[str, Any]) -> bytes:
    """The PDF of one certificate.

    `record` is the node's view of it (services.to_dict: status, verification code, QR text, confirmation);
    `payload` the signed certificate (the JWS payload): what the document states, as signed.
    """
    number = str(payload.get("number") or record["number"])
    pdf = _Document(number)
    pdf.set_title(latin1(f"{rules.TITLE} {number}"))
    pdf.set_author(latin1(str((payload.get("issuing_authority") or {}).get("name", ""))))
    pdf.set_creator("kpcs")
    pdf.set_creation_date(dt.datetime.fromisoformat(str(payload.get("issued_at", "")).replace("Z", "+00:00"))
                          if payload.get("issued_at") else dt.datetime.now(dt.UTC))
    pdf.add_page()
    width = pdf.w - 2 * MARGIN
    text_w = width - QR_SIZE - 4

    # CERT-02 items 1 and 5: the title and the unique number; the code that public verification asks for.
    top = pdf.get_y()
    pdf.set_font("Helvetica", "B", 17)
    pdf.multi_cell(text_w, 7.5, latin1(rules.TITLE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "I", 11)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(text_w, 5.5, latin1("Certificat du Processus de Kimberley"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*DARK)
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 8.5)
    pdf.cell(text_w, 4.5, latin1("Certificate number / Numéro du certificat"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Courier", "B", 22)
    pdf.cell(text_w, 10, latin1(number), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 8.5)
    pdf.cell(text_w, 4.5, latin1("Verification code / Code de vérification"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Courier", "B", 22)
    pdf.cell(text_w, 10, latin1(str(record.get("verification_code", ""))), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    status = str(record.get("status", ""))
    english, french = STATUS_TEXT.get(status, (status.upper(), status))
    pdf.set_font("Helvetica", "B", 10)
    pdf.multi_cell(text_w, 5, latin1(f"Status: {english}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "I", 8.5)
    pdf.multi_cell(text_w, 4.2, latin1(f"Statut : {french}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if record.get("signer_revoked"):
        pdf.set_text_color(180, 0, 0)
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(text_w, 5, latin1("NOT GENUINE: its signing key was revoked before this serial (IMP-08) / "
                                         "NON AUTHENTIQUE : clé de signature révoquée"),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*DARK)
    qr = record.get("qr")
    qr_x = pdf.w - MARGIN - QR_SIZE
    if qr:
        pdf.qr_code(str(qr), qr_x, top, QR_SIZE)
        caption = "Signed certificate: verify offline with the KP trust list / Certificat signé, vérifiable hors ligne"
    else:
        pdf.rect(qr_x, top, QR_SIZE, QR_SIZE)
        caption = ("No QR code: issued before the QR form. Verify with the number and code / Pas de code QR : "
                   "vérifier avec le numéro et le code")
    pdf.set_xy(qr_x, top + QR_SIZE + 0.5)
    pdf.set_font("Helvetica", "", 6.5)
    pdf.multi_cell(QR_SIZE, 3, latin1(caption), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + QR_SIZE + 7) + 1)

    # CERT-02 item 2: the statement.
    pdf.set_font("Helvetica", "B", 9.5)
    pdf.multi_cell(0, 4.8, latin1(str(payload.get("statement") or rules.STATEMENT) + "."),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "I", 8.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 4.2, latin1("Les diamants bruts de cette expédition ont été traités conformément aux "
                                  "dispositions du Système de certification du Processus de Kimberley pour les "
                                  "diamants bruts."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*DARK)

    # CERT-02 items 3, 7-10: who, from where, when.
    authority = payload.get("issuing_authority") or {}
    authority = authority if isinstance(authority, Mapping) else {}
    pdf.heading("Shipment", "Expédition")
    pdf.field("Issuing authority", "Autorité émettrice",
              f"{authority.get('name', '')} ({authority.get('id', record.get('issuing_authority', ''))})")
    pdf.field("Participants", "Participants", f"{payload.get('exporting_participant', '')} exporting / exportateur, "
                                              f"{payload.get('importing_participant', '')} importing / importateur")
    pdf.field("Exporter", "Exportateur", _party(payload.get("exporter"), licence=True))
    pdf.field("Importer", "Importateur", _party(payload.get("importer")))
    pdf.field("Country of origin", "Pays d'origine", _origin(payload.get("origin")))
    pdf.field("Dates of issue and expiry", "Dates de délivrance et d'expiration",
              f"{payload.get('issued_on', '')}  -  {payload.get('expires_on', '')}")
    if payload.get("type") == "technical":
        pdf.field("Type", "Type", "Technical certificate (CERT-14) / certificat technique")

    # CERT-02 items 11-14: the goods, line by line and in total.
    pdf.heading("Goods", "Marchandises")
    _lines_table(pdf, payload.get("lines") or [], payload.get("totals") or {})

    # CERT-02 item 15: the exporting authority's validation (electronic: its signature).
    validation = payload.get("validation") or {}
    validation = validation if isinstance(validation, Mapping) else {}
    pdf.heading("Validation by the exporting authority", "Validation par l'autorité exportatrice")
    pdf.field("Validated by, at", "Validé par, le", f"{authority.get('name', '')} ({validation.get('authority', '')})"
              f", {_when(validation.get('validated_at'))}")
    pdf.field("Electronic signature", "Signature électronique",
              f"Ed25519, key {record.get('kid', '')}: the QR code and the JWS carry it")

    _confirmation_part(pdf, record, payload)

    pdf.ln(3)
    pdf.keep(12)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 3.6, latin1(
        "Verify: scan the QR code and check it offline against the KP trust list (kpcs certificate verify), or give "
        "the number and verification code at the issuing node's /verify/ page. / Vérification : lire le code QR et "
        "le vérifier hors ligne avec la liste de confiance du PK, ou saisir le numéro et le code de vérification "
        "sur la page /verify/ du nœud émetteur."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*DARK)
    return bytes(pdf.output())


def _lines_table(pdf: _Document, lines: Sequence[Any], totals: Mapping[str, Any]) -> None:
    widths = (38.0, 48.0, 56.0, 38.0)
    heads = (("HS code", "Code SH"), ("Carats", "Carats"), ("Value (US$)", "Valeur (USD)"),
             ("Parcels", "Colis"))
    pdf.set_font("Helvetica", "B", 8.5)
    for w, (english, french) in zip(widths, heads, strict=True):
        pdf.cell(w, 6, latin1(f"{english} / {french}"), border=1, align="C")
    pdf.ln()
    pdf.set_font("Courier", "", 9.5)
    for line in lines:
        if not isinstance(line, Mapping):
            continue
        cells = (str(line.get("hs_code", "")), str(line.get("carats", "")), str(line.get("value_usd", "")),
                 str(line.get("parcels", "")))
        for w, text, align in zip(widths, cells, ("C", "R", "R", "R"), strict=True):
            pdf.cell(w, 5.5, latin1(text), border=1, align=align)
        pdf.ln()
    pdf.set_font("Courier", "B", 9.5)
    cells = ("Shipment total", str(totals.get("carats", "")), str(totals.get("value_usd", "")),
             str(totals.get("parcels", "")))
    for w, text, align in zip(widths, cells, ("C", "R", "R", "R"), strict=True):
        pdf.cell(w, 6, latin1(text), border=1, align=align)
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 7.5)
    pdf.cell(0, 4, latin1("Total de l'expédition : carats, valeur (USD), nombre de colis"),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _confirmation_part(pdf: _Document, record: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """CERT-04: the import confirmation part, filled in when the importing authority has confirmed receipt,
    otherwise with blank fields for it to fill."""
    part = payload.get("import_confirmation_part") or {}
    part = part if isinstance(part, Mapping) else {}
    pdf.keep(62)  # the part stays whole, on one page (fields never split either)
    pdf.heading("Import confirmation", "Confirmation d'importation")
    pdf.field("Country of destination", "Pays de destination", str(part.get("country_of_destination", "")))
    pdf.field("Importer", "Importateur", _party(part.get("importer")))
    pdf.field("Carats and value (US$)", "Carats et valeur (USD)",
              f"{part.get('carats', '')} ct  -  US$ {part.get('value_usd', '')}")
    pdf.field("HS codes", "Codes SH", ", ".join(str(c) for c in part.get("hs_codes", []) or []))
    confirmation = record.get("confirmation")
    if isinstance(confirmation, Mapping):
        pdf.field("Date of receipt", "Date de réception", str(confirmation.get("received_on", "")))
        pdf.field("Received", "Reçu",
                  f"{confirmation.get('parcels', '')} parcel(s), {confirmation.get('carats', '')} ct; seals "
                  f"{'intact' if confirmation.get('seals_intact') else 'broken'}")
        pdf.field("Authenticated by", "Authentifié par",
                  f"{confirmation.get('authority', '')}, {confirmation.get('confirmed_by', '')}, "
                  f"{_when(confirmation.get('confirmed_at'))}")
        return
    rejection = record.get("rejection")
    if isinstance(rejection, Mapping):
        pdf.field("Rejected", "Rejeté",
                  f"{rejection.get('kind', '')} - {rejection.get('authority', '')}, "
                  f"{_when(rejection.get('recorded_at'))}: {rejection.get('reason', '')}")
        return
    for english, french in (("Date of receipt", "Date de réception"),
                            ("Authentication (importing authority)", "Authentification (autorité importatrice)")):
        y = pdf.get_y()
        pdf.field(english, french, " ")
        pdf.set_draw_color(*GREY)
        pdf.line(pdf.l_margin + 52, y + 7.5, pdf.w - pdf.r_margin, y + 7.5)
        pdf.set_draw_color(*DARK)
        pdf.ln(2.5)
