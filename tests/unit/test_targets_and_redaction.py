"""Webhook target rules and personal-field redaction, without a database or a network."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from connectors.outbound import routing, targets
from hub.domain.redaction import redact, redact_event


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *ips: str) -> None:
    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        family = socket.AF_INET6
        return [
            (socket.AF_INET if "." in ip else family, socket.SOCK_STREAM, 6, "", (ip, port or 0))
            for ip in ips
        ]

    monkeypatch.setattr(targets, "getaddrinfo", fake)


def test_pin_aims_at_the_checked_address_and_keeps_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving_to(monkeypatch, "93.184.216.34")
    pinned = targets.pin("https://user:pw@hooks.example.com:8443/x?y=1", targets.Policy())
    assert pinned.url == "https://user:pw@93.184.216.34:8443/x?y=1"
    assert pinned.host_header == "hooks.example.com:8443"
    assert pinned.sni_hostname == "hooks.example.com"


def test_one_private_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving_to(monkeypatch, "93.184.216.34", "10.0.0.5")
    with pytest.raises(targets.InvalidTarget, match=r"10\.0\.0\.5"):
        targets.pin("http://hooks.example.com/x", targets.Policy())
    allowed = targets.pin("http://hooks.example.com/x", targets.Policy.parse("10.0.0.0/8"))
    assert allowed.url == "http://93.184.216.34/x"


def test_with_every_address_allowed_a_name_is_resolved_and_left_to_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Resolved (on the subscription's threads, where a hung lookup ends at the deadline), and
    then not pinned: the connection tries each address, so ``localhost`` resolving to ``::1``
    first still reaches a receiver on 127.0.0.1."""
    asked: list[str] = []
    _resolving_to(monkeypatch, "::1", "127.0.0.1")
    resolve = targets.getaddrinfo
    monkeypatch.setattr(
        targets, "getaddrinfo", lambda host, *a, **k: asked.append(host) or resolve(host, *a, **k)
    )
    pinned = targets.pin("http://localhost:8080/hook", targets.Policy(allow_all=True))
    assert (pinned.url, pinned.host_header) == ("http://localhost:8080/hook", None)
    assert asked == ["localhost"]
    with pytest.raises(targets.InvalidTarget, match="cannot resolve"):
        monkeypatch.setattr(targets, "getaddrinfo", _unresolvable)
        targets.pin("http://nowhere.example/hook", targets.Policy(allow_all=True))


def _unresolvable(*args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(-2, "Name or service not known")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "::1", "fe80::1",
     "::ffff:10.0.0.1", "fc00::1", "224.0.0.1", "0.0.0.0"],
)  # fmt: skip
def test_non_public_addresses(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not targets.Policy().allows(ip)
    assert targets.Policy.parse("1").allows(ip)


def test_a_bad_allow_list_stops_the_start() -> None:
    with pytest.raises(ValueError, match="CONCORD_WEBHOOK_ALLOW_PRIVATE"):
        targets.Policy.parse("intranet")


def test_redaction_takes_a_field_from_every_place() -> None:
    view = {
        "attributes": {"given_name": "Ada", "date_of_birth": "1985-12-10"},
        "provenance": {"given_name": {"source": "hr"}, "date_of_birth": {"source": "hr"}},
        "overrides": {"date_of_birth": {"value": "1985-12-11"}},
        "changed_fields": ["given_name", "date_of_birth"],
    }
    out = redact(view, {"date_of_birth"})
    assert "date_of_birth" not in str(out)
    assert out["attributes"] == {"given_name": "Ada"}
    assert view["attributes"]["date_of_birth"] == "1985-12-10"  # the original is untouched
    assert redact(view, frozenset()) is view


def test_webhook_body_without_personal_fields() -> None:
    event = {"type": "concord.resource.updated", "data": {"attributes": {"date_of_birth": "x"}}}
    hidden = routing.hidden_fields(event, False, {"resource": frozenset({"date_of_birth"})})
    assert b"date_of_birth" not in routing.body(event, None, hidden)
    assert redact_event(event, ()) is event
    assert not routing.hidden_fields(event, True, {"resource": frozenset({"date_of_birth"})})
