"""The activity page's own pieces: its port setting and the token check (the page itself runs in
a real Jupyter server in tests/integration/test_activity_server.py)."""

from __future__ import annotations

import pytest

from hubscale_nb.activity import PORT_VARIABLE, authorized, own_port, token_digest


def test_the_page_has_its_own_port_only_when_one_is_given():
    assert own_port("") is None and own_port("  ") is None
    assert own_port("9188") == 9188


@pytest.mark.parametrize("text", ["x", "0", "65536", "-1", "9188a"])
def test_a_bad_port_is_refused_naming_the_variable(text):
    with pytest.raises(ValueError, match=f"{PORT_VARIABLE}=.*must be a port number"):
        own_port(text)


def test_only_the_scrape_token_as_a_bearer_opens_the_page():
    digest = token_digest("scrape")
    assert authorized("Bearer scrape", digest)
    assert not authorized("token scrape", digest)
    assert not authorized("Bearer other", digest)
    assert not authorized("", digest)
