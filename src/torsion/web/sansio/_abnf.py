"""The grammar of HTTP/1.1 messages, as compiled regular expressions.

Each pattern is written from the ABNF of RFC 9110 (semantics: tokens, field values,
quoted strings, Host) and RFC 9112 (syntax: request line, status line, chunked coding).
The rule names in the comments are the RFCs' own.

Facts worth knowing before editing:

- Python's ``re`` backtracks. Every pattern here is built so that each byte can be
  matched one way only (character classes that do not overlap the separators after
  them, possessive ``*+``/``++``), which keeps matching linear in the input: a header
  value of 16 KiB of spaces must not cost seconds. Optional whitespace around field
  values is stripped with ``bytes.strip`` rather than matched, for the same reason.
- All patterns work on ``bytes`` and are meant for ``fullmatch``.
- Control characters are refused everywhere except HTAB where the grammar allows it:
  RFC 9110 section 5.5 lets a recipient keep CTLs other than NUL, CR and LF in field
  values "for robustness"; this core does not.
"""

from __future__ import annotations

import re

__all__ = [
    "CHUNK_LINE",
    "CONTENT_LENGTH_ELEMENT",
    "FIELD_VALUE",
    "HOST",
    "HTTP_VERSION",
    "REASON_PHRASE",
    "REQUEST_LINE",
    "REQUEST_TARGET",
    "STATUS_LINE",
    "TOKEN",
]

# RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-"
#   / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA ; token = 1*tchar
_TCHAR = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"
_TOKEN = _TCHAR + rb"++"

# RFC 9110 section 5.6.3: OWS = *( SP / HTAB ); BWS = OWS
_OWS = rb"[ \t]*+"

# RFC 9110 section 5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
_QUOTED_STRING = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*+"'

# RFC 9112 section 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT; HTTP-name is
# case-sensitive ("%s" in the ABNF).
_HTTP_VERSION = rb"HTTP/([0-9])\.([0-9])"

# RFC 9112 section 3.2: request-target is a URI reference (origin-form, absolute-form,
# authority-form or asterisk-form). URIs are ASCII: visible characters only, no obs-text.
_REQUEST_TARGET = rb"[\x21-\x7e]++"

# RFC 9112 section 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
_REASON_PHRASE = rb"[\t \x21-\x7e\x80-\xff]*+"

TOKEN = re.compile(_TOKEN)
"""``token``: methods, field names, transfer codings, connection options."""

FIELD_VALUE = re.compile(rb"[\t \x21-\x7e\x80-\xff]*+")
"""The characters of a ``field-value`` once its surrounding OWS is stripped.

RFC 9110 section 5.5: field-value = *field-content, whose characters are field-vchar
(VCHAR / obs-text) with SP and HTAB between them. NUL, CR, LF and the other CTLs are
refused.
"""

HTTP_VERSION = re.compile(_HTTP_VERSION)
"""``HTTP-version``; groups: major digit, minor digit."""

REQUEST_TARGET = re.compile(_REQUEST_TARGET)
"""``request-target``, loosely: one or more visible ASCII characters."""

REASON_PHRASE = re.compile(_REASON_PHRASE)
"""``reason-phrase`` (possibly empty)."""

REQUEST_LINE = re.compile(
    rb"(" + _TOKEN + rb") (" + _REQUEST_TARGET + rb") " + _HTTP_VERSION
)
"""``request-line = method SP request-target SP HTTP-version`` (RFC 9112 section 3).

Groups: method, request-target, major, minor. Exactly one SP between the parts: the
"relaxed" whitespace that section 3 allows recipients to accept is refused here.
"""

STATUS_LINE = re.compile(
    _HTTP_VERSION + rb" ([0-9]{3})(?: (" + _REASON_PHRASE + rb"))?"
)
"""``status-line = HTTP-version SP status-code SP [ reason-phrase ]`` (section 4).

Groups: major, minor, status code, reason (``None`` when absent). The SP after the
status code is optional here: servers that send ``HTTP/1.1 200`` alone exist and the
reason phrase carries no meaning (clients "SHOULD ignore" it).
"""

_CHUNK_EXT = (
    rb"(?:" + _OWS + rb";" + _OWS + _TOKEN
    + rb"(?:" + _OWS + rb"=" + _OWS + rb"(?:" + _TOKEN + rb"|" + _QUOTED_STRING + rb"))?)*+"
)

CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]++)(" + _CHUNK_EXT + rb")")
"""``chunk-size [ chunk-ext ]`` (RFC 9112 section 7.1), without the CRLF.

Groups: chunk-size (hex digits), chunk-ext (possibly empty).
``chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )``;
whitespace after the size with no extension after it is not in the grammar and is
refused.
"""

CONTENT_LENGTH_ELEMENT = re.compile(rb"[0-9]++")
"""One element of ``Content-Length = 1*DIGIT`` (RFC 9110 section 8.6)."""

HOST = re.compile(
    rb"(?:\[[0-9A-Za-z:.!$&'()*+,;=~_-]++\]|[0-9A-Za-z!$&'()*+,;=~._%-]*+)(?::[0-9]*+)?"
)
"""``Host = uri-host [ ":" port ]`` (RFC 9110 section 7.2), without userinfo.

``uri-host`` is an IP-literal in brackets or a reg-name (unreserved, pct-encoded,
sub-delims); an empty Host is valid (section 7.2 allows it when the target has no
authority).
"""
