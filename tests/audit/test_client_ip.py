from __future__ import annotations

from django.test import RequestFactory

from fangkong.audit.services import client_ip


def test_the_connections_address_unless_behind_a_proxy(settings):  # noqa: ANN001
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5",
                                   HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    settings.BEHIND_PROXY = False
    assert client_ip(request) == "10.0.0.5"  # a client's own header is not believed
    settings.BEHIND_PROXY = True
    assert client_ip(request) == "203.0.113.9"  # the entry our proxy added


def test_a_malformed_forwarded_header_falls_back_to_the_connection(settings):  # noqa: ANN001
    settings.BEHIND_PROXY = True
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5",
                                   HTTP_X_FORWARDED_FOR="1.2.3.4, <script>")
    assert client_ip(request) == "10.0.0.5"
