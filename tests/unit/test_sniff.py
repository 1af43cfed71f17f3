"""Header values guessed from raw bytes before parsing: cheap, and only ever a guess."""

import pytest

from tickets.ingest.sniff import sniff_from_addresses


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"From: Ana <Ana.Lopez@Correo.Example>\r\n", {"ana.lopez@correo.example"}),
        (b"From: ana@correo.example\n", {"ana@correo.example"}),
        (b"from:\r\n =?utf-8?q?Jos=C3=A9?= <jose@x.example>\r\n", {"jose@x.example"}),  # folded
        (b"From: a@x.example, b@y.example\r\nFrom: c@z.example\r\n", {"a@x.example", "b@y.example", "c@z.example"}),
        (b"Reply-To: r@x.example\r\nSender: s@x.example\r\n", set()),  # no From at all
        (b"From: =?iso-8859-1?q?Mu=F1oz?=\r\n", set()),  # no address to guess
    ],
)
def test_the_from_header_is_guessed_lowercased(head: bytes, expected: set[str]) -> None:
    assert sniff_from_addresses(head + b"Subject: x\r\n\r\nFrom: body@not.header\r\n") == expected
