"""Freeze-request packets: one per exchange or stablecoin issuer, for its compliance desk.

``tracer packets OUT --out DIR`` reads what a trace wrote (``graph.json``, ``flags.csv``,
``manifest.json``) plus the case workspace (``reviews.jsonl``, ``freeze.json``) and writes, per
recipient (the exchange behind a deposit address or wallet, the issuer of a stablecoin balance):

* ``<recipient>.md``: a readable request: what is asked, every address with its amount, first
  tainted time, confidence and the evidence behind it, the onward sweep into the exchange's
  wallet, the full path from the theft (every transaction with block, UTC time, amount and the
  tainted amount under the rule), where each label came from, and the method (rule, parameters,
  data fingerprint, tool versions, the command that reproduces the trace);
* ``<recipient>.csv``: one row per address (the same facts, for their systems);
* ``<recipient>-path.csv``: one row per hop of every path;

and ``index.md`` / ``index.csv`` listing the packets. Flags dismissed in review and balances that
moved on are left out (counted in the index); balances the issuer already froze are listed in
their own section. Nothing in a packet depends on when it was written.

Everything shown comes from strangers at some point (labels, entity names, token symbols), so
text is cleaned once (:func:`visible`: control, bidi and zero-width characters become visible
``[U+202E]`` markers), then Markdown-escaped (:func:`md`: every ASCII punctuation character that
can start Markdown or HTML syntax is backslash-escaped) or CSV-guarded
(:func:`tracer.exports.safe_cell`). File names are slugs of the recipient with a hash suffix,
never the recipient's text itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

__all__ = ["build_packets", "md", "packets_command", "visible"]

_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#!|&~$:])")
_WWW = re.compile(r"(?i)(www)\.")


def visible(text: object, limit: int | None = None) -> str:
    """Untrusted text made safe to show: tabs and line breaks become spaces; control, bidi
    (e.g. U+202E RIGHT-TO-LEFT OVERRIDE), zero-width and separator characters become a visible
    ``[U+XXXX]`` marker (lone surrogates ``[U+FFFD]``), so nothing hides or reorders text."""
    if text is None:
        return ""
    s = str(text).replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")

    def mark(m: re.Match) -> str:
        c = m.group(0)
        return "[U+FFFD]" if 0xD800 <= ord(c) <= 0xDFFF else f"[U+{ord(c):04X}]"

    s = _INVISIBLE.sub(mark, s)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def md(text: object, limit: int | None = None) -> str:
    """Untrusted text for Markdown: :func:`visible`, then backslash-escape every character that
    can open Markdown or HTML syntax (``\\ ` * _ [ ] ( ) < > # ! | & ~ $ :``, and ``www.``), so
    no link, image, raw HTML, emphasis, table cell or autolink can come out of it."""
    return _WWW.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", visible(text, limit)))


def _code(text: object) -> str:
    """An identifier (address, hash) as a code span; anything odd falls back to :func:`md`."""
    s = visible(text)
    return f"`{s}`" if re.fullmatch(r"[0-9A-Za-z:._\-]+", s or "?") else md(s)


def _plain(text: object) -> str:
    """Text tracer wrote itself (amounts, times, statuses) stays as is; anything else is escaped."""
    s = visible(text)
    return s if re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z .,:+\-]*|", s) else md(s)


def _link(url: str, text: str) -> str:
    if not url.startswith("https://") or re.search(r"[\s()<>\[\]\\`]", url):
        return text
    return f"[{text}]({url})"


def slug(recipient: str, role: str) -> str:
    """A file name for a recipient: ``exchange-binance-1a2b3c`` (ASCII, no path separators)."""
    base = re.sub(r"[^a-z0-9]+", "-", recipient.lower()).strip("-")[:40] or "unnamed"
    digest = hashlib.sha256(f"{role}|{recipient}".encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"{role}-{base}-{digest}"


def _recipient(row: dict) -> tuple[str, str] | None:
    if row["kind"] in ("exchange_deposit", "exchange"):
        return "exchange", row["entity"] or "Unidentified exchange"
    if row["kind"] in ("freezable_balance", "frozen_balance"):
        return "issuer", row["entity"] or "Unidentified issuer"
    return None


def _fingerprint(manifest: dict) -> str:
    fp = manifest.get("data_fingerprint") or {}
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]


def reproduce_command(manifest: dict) -> str:
    """The ``tracer trace`` command line that reproduces the trace (as far as the manifest says)."""
    inputs, p = manifest.get("inputs", {}), manifest.get("parameters", {})
    parts = ["tracer", "trace"]
    if inputs.get("case"):
        parts += ["--case", str(inputs["case"])]
    else:
        parts += [str(s) for s in inputs.get("seeds", [])]
        parts += ["--chain", str(inputs.get("chain", ""))]
        if inputs.get("data"):
            parts += ["--data", str(inputs["data"])]
        for lab in inputs.get("labels", []):
            parts += ["--labels", str(lab.get("path", ""))]
    parts += ["--policy", str(p.get("policy", "")), "--hops", str(p.get("hops", ""))]
    for name in ("min_amount", "since", "until"):
        if p.get(name) not in (None, ""):
            parts += [f"--{name.replace('_', '-')}", str(p[name])]
    if p.get("fan_out") not in (None, 1000):
        parts += ["--fan-out", str(p["fan_out"])]
    for a in p.get("seed_assets") or [] if not inputs.get("case") else []:
        parts += ["--asset", str(a)]
    if not inputs.get("case"):  # issue 10: cross-chain inputs
        for chain, where in sorted((inputs.get("follow") or {}).items()):
            parts += ["--follow", f"{chain}={where}"]
        if (inputs.get("bridges") or {}).get("path"):
            parts += ["--bridges", str(inputs["bridges"]["path"])]
    parts += ["--out", "OUT"]
    return " ".join(visible(x) for x in parts)


_KIND_TEXT = {
    "exchange_deposit": "exchange deposit address (the account's freeze target)",
    "exchange": "exchange wallet paid directly",
    "freezable_balance": "stablecoin balance still held",
    "frozen_balance": "stablecoin balance the issuer already froze",
}
_ASK = {
    "exchange": (
        "Please freeze the customer accounts credited through the addresses below, preserve the "
        "account holder's identity (KYC), login/IP and withdrawal records, and tell us where any "
        "part of these funds was withdrawn to. Each address below received funds traced from the "
        "theft; the path from the theft address is listed transaction by transaction."
    ),
    "issuer": (
        "Please blacklist the addresses below (freezing their balances of your token) and "
        "preserve the related records. Each address still held tainted tokens at the end of our "
        "data; the path from the theft address is listed transaction by transaction."
    ),
}


def _hop_table(hops: list[dict]) -> list[str]:
    if not hops:
        return ["The address is the theft address itself (the seed): the funds start here.", ""]
    out = [
        "| Hop | Transaction | Block | Time (UTC) | From | To | Amount | Tainted |",
        "|---:|---|---:|---|---|---|---:|---:|",
    ]
    for h in hops:
        sym = md(h["symbol"], 24)
        swap = f" \\(swap {h['swap']}\\)" if h["swap"] else ""
        out.append(
            f"| {h['hop']} | {_link(h['tx_url'], _code(h['tx_hash']))}{swap} | {h['block']} | "
            f"{_plain(h['time'])} | {_code(h['from'])} | {_code(h['to'])} | {h['amount_display']} "
            f"{sym} | {h['tainted_display']} {sym} |"
        )
    out.append("")
    return out


def _labels_table(labels: list[dict]) -> list[str]:
    if not labels:
        return ["No label names this address: it was found by behaviour.", ""]
    out = [
        "| Address | Label | Entity | Source | Confidence | Where read |",
        "|---|---|---|---|---:|---|",
    ]
    for lab in labels:
        out.append(
            f"| {_code(lab['address'])} | {md(lab['label'], 200)} | {md(lab['entity'], 80)} | "
            f"{md(lab['source'], 300)} | {_plain(lab['confidence'])} | {md(Path(lab['origin']).name, 120)} |"
        )
    out.append("")
    return out


def _method(manifest: dict, policy: str) -> list[str]:
    p = manifest.get("parameters", {})
    inputs = manifest.get("inputs", {})
    tool = manifest.get("tool", {})
    out = [
        "## Method",
        "",
        f"- Allocation rule: **{_plain(policy)}**: {md(manifest.get('allocation_note', ''))}. One "
        "deterministic rule for the whole case; the same inputs give byte-identical outputs.",
        f"- Parameters: hops {_plain(p.get('hops'))}, minimum amount {_plain(p.get('min_amount') or 'none')}, "
        f"since {_plain(p.get('since') or 'start of data')}, until {_plain(p.get('until') or 'end of data')}, "
        f"fan-out guard {_plain(p.get('fan_out'))}.",
        f"- Theft (seed) address(es): {', '.join(_code(s) for s in inputs.get('seeds', []))} "
        f"on {_plain(inputs.get('chain', ''))}"
        + (f" \\(case {md(inputs['case'])}\\)" if inputs.get("case") else "")
        + ".",
        f"- Data: {md((manifest.get('data_fingerprint') or {}).get('source', ''))}, "
        f"fingerprint `{_fingerprint(manifest)}`"
        + "".join(
            f"; {md(f.get('path', ''))} sha256 `{visible(f.get('sha256', ''))[:64]}`"
            for f in (manifest.get("data_fingerprint") or {}).get("files", [])
        )
        + ".",
        "- Label files: "
        + (
            "; ".join(
                f"{md(Path(str(lab.get('path', ''))).name)} sha256 `{visible(lab.get('sha256', ''))[:64]}`"
                for lab in inputs.get("labels", [])
            )
            or "none"
        )
        + ".",
        f"- Tool: tracer {_plain(tool.get('version', ''))}; "
        + ", ".join(
            f"{_plain(k)} {_plain(v)}" for k, v in sorted((manifest.get("versions") or {}).items())
        )
        + ".",
        f"- Reproduce: `{reproduce_command(manifest).replace('`', '')}`",
        "",
        "Exchange deposit addresses are found by behaviour (Victor, FC 2020: an address that "
        "forwards the same token amount, or the same ETH amount less at most 0.01 ETH of gas, to "
        "a labelled exchange wallet within 10,000 blocks; a gas top-up from the exchange's funder "
        "adds to the confidence) and confirmed by labels where a label exists; both are reported.",
        "",
    ]
    return out


def _units(amount: int, decimals) -> str:
    from tracer.records import format_units

    return format_units(amount, decimals) if isinstance(decimals, int) else str(amount)


def _flag_section(i: int, r: dict, history: dict) -> list[str]:
    sym = md(r["symbol"], 24)
    out = [
        f"### {i}. {_code(r['address'])} \\(flag {_code(r['flag_id'])}\\)",
        "",
        f"- Explorer: {_link(r['address_url'], _code(r['address']))}",
        f"- What it is: {_KIND_TEXT.get(r['kind'], md(r['kind']))}; entity {md(r['entity'] or 'unknown', 120)}",
        f"- Tainted amount: **{_plain(r['tainted_amount'])} {sym}** \\({r['tainted']} base units\\) "
        f"under the {_plain(r['policy'])} rule; first tainted funds arrived {_plain(r['first_tainted_at'])} UTC",
        f"- Confidence: {r['confidence']}",
        f"- Evidence: {md(r['evidence'], 2000)}",
    ]
    check = r.get("freeze")
    if check:
        out.append(
            f"- Issuer blacklist status: **{_plain(check['status'])}** \\({_plain(check['certainty'])}\\): "
            f"{md(check['summary'], 600)}"
        )
    review = history.get(r["flag_id"]) or []
    if review:
        last = review[-1]
        out.append(
            f"- Review: **{_plain(last.status)}** by {md(last.reviewer, 80)} at {_plain(last.at)}"
            + (f": {md(last.note, 600)}" if last.note else "")
        )
    for h in r.get("onward", []):
        out.append(
            f"- Swept to exchange wallet {_link(h['to_url'], _code(h['to']))}: "
            f"{h['amount_display']} {md(h['symbol'], 24)} in {_link(h['tx_url'], _code(h['tx_hash']))} "
            f"\\(block {h['block']}, {_plain(h['time'])}\\)"
        )
    if r.get("path_note"):
        out.append(f"- Note: {md(r['path_note'])}")
    out += ["", "Path from the theft:", ""] + _hop_table(r["evidence_path"])
    out += ["Labels and their sources:", ""] + _labels_table(r["labels"])
    return out


PACKET_COLUMNS = [
    "recipient",
    "flag_id",
    "kind",
    "chain",
    "address",
    "explorer_url",
    "entity",
    "asset",
    "symbol",
    "tainted_amount",
    "tainted_base_units",
    "recoverable_amount",
    "first_tainted_at",
    "hops",
    "path_tx_hashes",
    "policy",
    "confidence",
    "review_status",
    "freeze_status",
    "evidence",
    "swept_in_tx",
    "label_sources",
]
PATH_COLUMNS = [
    "recipient",
    "flag_id",
    "address",
    "hop",
    "tx_hash",
    "explorer_url",
    "block",
    "time",
    "from_address",
    "to_address",
    "asset",
    "symbol",
    "amount",
    "amount_base_units",
    "tainted",
    "tainted_base_units",
    "swap",
]
_NUMERIC = {"hops", "confidence", "hop", "block"}


def _csv(header: list[str], rows: list[dict]) -> str:
    from tracer.exports import safe_cell

    buffer = io.StringIO(newline="")
    w = csv.writer(buffer, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([row[c] if c in _NUMERIC else safe_cell(row[c]) for c in header])
    return buffer.getvalue()


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def build_packets(
    trace_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    workspace: str | os.PathLike | None = None,
    include_dismissed: bool = False,
    prices: dict[str, Decimal] | None = None,
) -> list[Path]:
    """Write the packets of a trace into ``out_dir`` (see the module doc); returns the files."""
    from tracer.freeze import FREEZE_FILE, load_freeze, load_trace, rank_flags
    from tracer.review import ReviewLog, workspace_dir

    data = load_trace(trace_dir)
    ws = workspace_dir(trace_dir, workspace)
    log = ReviewLog(ws)
    reviews = log.entries()
    history: dict[str, list] = defaultdict(list)
    for r in reviews:
        history[r.flag_id].append(r)
    statuses = {k: v[-1].status for k, v in history.items()}
    freeze = load_freeze(ws / FREEZE_FILE)
    ranked = rank_flags(data, freeze, statuses, prices)

    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    left_out: dict[str, int] = defaultdict(int)
    for r in ranked:
        who = _recipient(r)
        if who is None:
            continue
        if r["review"] == "dismissed" and not include_dismissed:
            left_out["dismissed in review"] += 1
            continue
        if r.get("freeze") and r["freeze"]["status"] == "moved":
            left_out["moved on (live check)"] += 1
            continue
        groups[who].append(r)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index_rows = []
    policy = data.policy
    for (role, recipient), rows in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1])):
        name = slug(recipient, role)
        active = [
            r
            for r in rows
            if r["kind"] != "frozen_balance"
            and not (r.get("freeze") and r["freeze"]["status"] == "frozen")
        ]
        frozen = [r for r in rows if r not in active]
        lines = [
            f"# Freeze request: {md(recipient, 120)}",
            "",
            f"- Recipient: {md(recipient, 120)} \\({'exchange' if role == 'exchange' else 'stablecoin issuer'}\\)",
            f"- Case: {md(data.manifest.get('inputs', {}).get('case') or 'trace')}, chain "
            f"{_plain(data.chain)}, allocation rule **{_plain(policy)}**",
            f"- Addresses: {len(active)} to act on"
            + (f", {len(frozen)} already frozen" if frozen else ""),
            f"- Trace: tracer {_plain(data.manifest.get('tool', {}).get('version', ''))}, data "
            f"fingerprint `{_fingerprint(data.manifest)}`",
            "",
            "## What we ask",
            "",
            _ASK[role],
            "",
            "## Addresses",
            "",
            "| # | Address | Asset | Tainted amount | First tainted (UTC) | Confidence | Review | Flag |",
            "|---:|---|---|---:|---|---:|---|---|",
        ]
        for i, r in enumerate(active, 1):
            lines.append(
                f"| {i} | {_code(r['address'])} | {md(r['symbol'], 24)} | {_plain(r['tainted_amount'])} | "
                f"{_plain(r['first_tainted_at'])} | {r['confidence']} | {_plain(r['review'])} | {_code(r['flag_id'])} |"
            )
        lines += ["", "## Evidence, address by address", ""]
        for i, r in enumerate(active, 1):
            lines += _flag_section(i, r, history)
        if frozen:
            lines += ["## Already frozen by the issuer", ""]
            for i, r in enumerate(frozen, 1):
                lines += _flag_section(i, r, history)
        lines += _method(data.manifest, policy)
        _write(out / f"{name}.md", "\n".join(lines).rstrip("\n") + "\n")

        flag_rows, hop_rows = [], []
        for r in rows:
            flag_rows.append(
                {
                    "recipient": recipient,
                    "flag_id": r["flag_id"],
                    "kind": r["kind"],
                    "chain": r["chain"],
                    "address": r["address"],
                    "explorer_url": r["address_url"],
                    "entity": r["entity"],
                    "asset": r["asset"],
                    "symbol": r["symbol"],
                    "tainted_amount": r["tainted_amount"],
                    "tainted_base_units": r["tainted"],
                    "recoverable_amount": r["recoverable_display"],
                    "first_tainted_at": r["first_tainted_at"],
                    "hops": r["hops"],
                    "path_tx_hashes": ";".join(r["path"]),
                    "policy": r["policy"],
                    "confidence": r["confidence"],
                    "review_status": r["review"],
                    "freeze_status": (r.get("freeze") or {}).get("status", ""),
                    "evidence": r["evidence"],
                    "swept_in_tx": ";".join(h["tx_hash"] for h in r.get("onward", [])),
                    "label_sources": "; ".join(
                        f"{lab['label']} [{lab['source']}]" for lab in r["labels"]
                    ),
                }
            )
            for h in r["evidence_path"]:
                hop_rows.append(
                    {
                        "recipient": recipient,
                        "flag_id": r["flag_id"],
                        "address": r["address"],
                        "hop": h["hop"],
                        "tx_hash": h["tx_hash"],
                        "explorer_url": h["tx_url"],
                        "block": h["block"],
                        "time": h["time"],
                        "from_address": h["from"],
                        "to_address": h["to"],
                        "asset": h["asset"],
                        "symbol": h["symbol"],
                        "amount": h["amount_display"],
                        "amount_base_units": h["amount"],
                        "tainted": h["tainted_display"],
                        "tainted_base_units": h["tainted"],
                        "swap": h["swap"],
                    }
                )
        _write(out / f"{name}.csv", _csv(PACKET_COLUMNS, flag_rows))
        _write(out / f"{name}-path.csv", _csv(PATH_COLUMNS, hop_rows))
        written += [out / f"{name}.md", out / f"{name}.csv", out / f"{name}-path.csv"]
        index_rows.append(
            {
                "recipient": recipient,
                "role": role,
                "packet": f"{name}.md",
                "addresses": len(active),
                "already_frozen": len(frozen),
            }
        )

    index = [
        "# Freeze-request packets",
        "",
        f"Trace: {md(data.manifest.get('inputs', {}).get('case') or 'trace')}, chain {_plain(data.chain)}, "
        f"rule **{_plain(policy)}**, data fingerprint `{_fingerprint(data.manifest)}`.",
        "",
        "| Recipient | Role | Addresses | Already frozen | Packet |",
        "|---|---|---:|---:|---|",
    ]
    for row in index_rows:
        index.append(
            f"| {md(row['recipient'], 120)} | {row['role']} | {row['addresses']} | "
            f"{row['already_frozen']} | [{row['packet']}]({row['packet']}) |"
        )
    if left_out:
        index += [
            "",
            "Left out: " + ", ".join(f"{n} {k}" for k, n in sorted(left_out.items())) + ".",
        ]
    if not index_rows:
        index += ["", "No exchange or issuer flag to send."]
    _write(out / "index.md", "\n".join(index) + "\n")
    _write(
        out / "index.csv",
        _csv(["recipient", "role", "packet", "addresses", "already_frozen"], index_rows),
    )
    written += [out / "index.md", out / "index.csv"]
    return written


def _prices(values) -> dict[str, Decimal]:
    from tracer.engine import TraceInputError

    out = {}
    for text in values:
        asset, _, price = text.partition("=")
        try:
            out[asset.strip().lower()] = Decimal(price.strip())
        except InvalidOperation:
            raise TraceInputError(f"--price {text!r}: use ASSET=PRICE (e.g. native=1600)") from None
    return out


@click.command("packets")
@click.argument("trace_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    help="Case workspace with reviews.jsonl and freeze.json (default: TRACE_DIR).",
)
@click.option("--include-dismissed", is_flag=True, help="Keep flags dismissed in review.")
@click.option(
    "--price",
    "prices",
    multiple=True,
    help="ASSET=PRICE per token unit (asset: contract or 'native') to rank by value.",
)
@click.option("--clean", is_flag=True, help="Remove OUT's old packets first.")
def packets_command(trace_dir, out, workspace, include_dismissed, prices, clean) -> None:
    """Write one freeze-request packet (Markdown + CSV) per exchange or issuer into OUT."""
    if clean and out.is_dir() and (out / "index.md").is_file():
        shutil.rmtree(out)
    files = build_packets(trace_dir, out, workspace, include_dismissed, _prices(prices))
    packets = [p for p in files if p.suffix == ".md" and p.name != "index.md"]
    for p in packets:
        click.echo(str(p))
    click.echo(f"{len(packets)} packet(s) -> {out / 'index.md'}", err=True)
