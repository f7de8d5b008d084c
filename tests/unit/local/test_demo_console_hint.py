"""`make demo` ends by saying how to open the console on `make up` (its own stack has stopped)."""

from __future__ import annotations

from skucast_local.demo import console_hint


def test_given_the_default_port_then_the_hint_names_make_up_and_the_console_url() -> None:
    hint = console_hint({})
    assert "make up" in hint and "http://127.0.0.1:3000/" in hint
    assert "X-Service-Key" in hint and "/api/auth/clients" in hint  # how to get a tenant to sign in with


def test_given_a_chosen_api_port_then_the_hint_uses_it() -> None:
    assert "http://127.0.0.1:3310/" in console_hint({"SKUCAST_API_PORT": "3310"})
