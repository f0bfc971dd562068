"""The SMS gateway adapter against a fake gateway speaking the protocol over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fangkong.followup.channels.sms.gateway import (
    SEND_PATH,
    GatewayAuthError,
    GatewayConfig,
    OutgoingSms,
    SmsGateway,
    normalize_number,
    parse_inbound,
    parse_reports,
    sign_request,
    verify_signed,
)
from tests.fakes.sms_gateway import FakeSmsGateway

ACCOUNT, SECRET, SIGN = "acc", "s3cret", "【某某社区】"


@pytest.fixture
def gw() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway(account=ACCOUNT, secret=SECRET) as fake:
        yield fake


def gateway_at(url: str, *, secret: str = SECRET, timeout: float = 5) -> SmsGateway:
    config = GatewayConfig(base_url=url, account=ACCOUNT, secret=secret, sign=SIGN, timeout=timeout)
    return SmsGateway(config)


def sms(n: int, to: str = "13800138000") -> OutgoingSms:
    return OutgoingSms(client_id=f"round-1-resident-{n}", to=to, text=f"您好，请回复体温 {n}")


def never_seen(nonce: str) -> bool:
    return False


# Sending


def test_send_reaches_the_gateway_with_sign_and_normalised_number(gw):
    [result] = gateway_at(gw.url).send([sms(1, to="+86 138 0013 8000")])

    assert result.status == "accepted" and result.message_id and result.error == ""
    [sent] = gw.sent
    assert (sent.client_id, sent.to, sent.sign) == ("round-1-resident-1", "13800138000", SIGN)
    assert sent.text == "您好，请回复体温 1"
    assert sent.message_id == result.message_id


def test_more_than_100_messages_go_in_batches_of_100_and_results_keep_their_order(gw):
    messages = [sms(n) for n in range(250)]

    results = gateway_at(gw.url).send(messages)

    assert [r.client_id for r in results] == [m.client_id for m in messages]
    assert {r.status for r in results} == {"accepted"}
    assert [r.batch_size for r in gw.requests] == [100, 100, 50]
    assert len(gw.sent) == 250


def test_nothing_to_send_makes_no_request(gw):
    assert gateway_at(gw.url).send([]) == []
    assert gw.requests == []


def test_same_client_id_reaches_the_gateway_once(gw):
    gateway = gateway_at(gw.url)

    [first] = gateway.send([sms(1)])
    [again] = gateway.send([sms(1)])
    twice_in_one_batch = gateway.send([sms(2), sms(2)])

    assert again.status == "accepted" and again.message_id == first.message_id
    assert twice_in_one_batch[0] == twice_in_one_batch[1]
    assert [s.client_id for s in gw.sent] == ["round-1-resident-1", "round-1-resident-2"]


def test_invalid_and_blocked_numbers_are_answered_per_message(gw):
    gw.invalid_numbers = {"13800000000"}
    gw.blocked = {"13900000000"}
    messages = [sms(1, "13800000000"), sms(2, "13900000000"), sms(3, "12345"), sms(4)]

    results = gateway_at(gw.url).send(messages)

    assert [r.status for r in results] == [
        "invalid_number",
        "blocked",
        "invalid_number",
        "accepted",
    ]
    assert [s.client_id for s in gw.sent] == ["round-1-resident-4"]


def test_rate_limit_makes_its_batch_throttled_with_retry_after(gw):
    gw.throttle_next(1, retry_after=7)
    gateway = gateway_at(gw.url)
    messages = [sms(n) for n in range(150)]

    results = gateway.send(messages)

    assert {(r.status, r.retry_after) for r in results[:100]} == {("throttled", 7.0)}
    assert {r.status for r in results[100:]} == {"accepted"}
    retried = gateway.send(messages[:100])
    assert {r.status for r in retried} == {"accepted"}
    assert len(gw.sent) == 150


def test_outage_marks_its_batch_failed_without_raising(gw):
    gw.fail_next(1, status=503)
    gateway = gateway_at(gw.url)

    results = gateway.send([sms(1), sms(2)])

    assert {r.status for r in results} == {"failed"}
    assert "503" in results[0].error
    assert gw.sent == []
    assert {r.status for r in gateway.send([sms(1), sms(2)])} == {"accepted"}


def test_unreachable_gateway_marks_messages_failed():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: the connection is refused.

    [result] = gateway_at(f"http://127.0.0.1:{port}").send([sms(1)])

    assert result.status == "failed" and result.error


def test_gateway_that_never_answers_times_out_as_failed():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections complete in the backlog; nothing ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()

        [result] = gateway_at(url, timeout=0.3).send([sms(1)])

    assert result.status == "failed" and "timed out" in result.error
    assert time.monotonic() - started < 5


def test_wrong_secret_raises_auth_error(gw):
    with pytest.raises(GatewayAuthError, match="bad signature"):
        gateway_at(gw.url, secret="wrong").send([sms(1)])
    assert gw.sent == []


def test_clocks_more_than_five_minutes_apart_raise_auth_error(gw):
    gw.clock_offset = 301

    with pytest.raises(GatewayAuthError, match="stale timestamp"):
        gateway_at(gw.url).send([sms(1)])


def send_body(*messages: OutgoingSms) -> bytes:
    batch = [{"client_id": m.client_id, "to": m.to, "text": m.text} for m in messages]
    return json.dumps({"account": ACCOUNT, "messages": batch}).encode()


def test_replayed_request_is_refused(gw):
    body = send_body(sms(1))
    headers = gw.signed_headers(body)

    first_status, _ = gw.post(gw.url + SEND_PATH, body, headers)
    replay_status, replay = gw.post(gw.url + SEND_PATH, body, headers)

    assert (first_status, replay_status) == (200, 401)
    assert json.loads(replay) == {"code": "auth_failed", "message": "nonce reused"}
    assert len(gw.sent) == 1


def test_request_signed_six_minutes_ago_is_refused(gw):
    body = send_body(sms(1))
    headers = gw.signed_headers(body, timestamp=int(time.time()) - 360)

    status, answer = gw.post(gw.url + SEND_PATH, body, headers)

    assert status == 401 and json.loads(answer)["message"] == "stale timestamp"
    assert gw.sent == []


# Signatures


def test_signature_follows_the_documented_formula():
    body = b'{"reports": []}'
    string_to_sign = "1700000000\nabcdef0123456789\n" + hashlib.sha256(body).hexdigest()
    expected = hmac.new(b"s3cret", string_to_sign.encode(), hashlib.sha256).hexdigest()

    assert sign_request("s3cret", body, timestamp=1700000000, nonce="abcdef0123456789") == expected


def signed(body: bytes, *, timestamp: int = 1_700_000_000, nonce: str = "0123456789abcdef"):
    return {
        "X-Account": ACCOUNT,
        "X-Timestamp": str(timestamp),
        "X-Nonce": nonce,
        "X-Signature": sign_request(SECRET, body, timestamp=timestamp, nonce=nonce),
    }


BODY = b'{"messages": []}'
NOW = 1_700_000_000


def test_verify_signed_accepts_a_good_request_whatever_the_header_case():
    headers = {name.lower(): value for name, value in signed(BODY).items()}
    seen: list[str] = []

    def seen_nonce(nonce: str) -> bool:
        seen.append(nonce)
        return False

    assert verify_signed(SECRET, BODY, headers, now=NOW + 299, seen_nonce=seen_nonce) is None
    assert seen == ["0123456789abcdef"]


@pytest.mark.parametrize("header", ["X-Timestamp", "X-Nonce", "X-Signature"])
def test_verify_signed_refuses_a_missing_header(header):
    headers = signed(BODY)
    del headers[header]

    reason = verify_signed(SECRET, BODY, headers, now=NOW, seen_nonce=never_seen)

    assert reason == "missing signature"


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301])
def test_verify_signed_refuses_a_timestamp_more_than_five_minutes_off(now):
    assert verify_signed(SECRET, BODY, signed(BODY), now=now, seen_nonce=never_seen) == (
        "stale timestamp"
    )


def test_verify_signed_refuses_an_unreadable_timestamp():
    headers = {**signed(BODY), "X-Timestamp": "1_700_000_000"}

    assert verify_signed(SECRET, BODY, headers, now=NOW, seen_nonce=never_seen) == (
        "stale timestamp"
    )


def refuse_nonce_lookup(nonce: str) -> bool:
    raise AssertionError("a forged request must not reach the nonce store")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"messages": [1]}', signed(BODY)),  # body changed after signing
        (BODY, {**signed(BODY), "X-Signature": "0" * 64}),
        (BODY, {**signed(BODY), "X-Signature": "签名"}),
        (BODY, {**signed(BODY, nonce="a b c d e f g h"), "X-Nonce": "a b c d e f g h"}),
    ],
)
def test_verify_signed_refuses_a_bad_signature(body, headers):
    reason = verify_signed(SECRET, body, headers, now=NOW, seen_nonce=refuse_nonce_lookup)

    assert reason == "bad signature"


def test_verify_signed_refuses_another_secret():
    reason = verify_signed("other", BODY, signed(BODY), now=NOW, seen_nonce=refuse_nonce_lookup)

    assert reason == "bad signature"


def test_verify_signed_refuses_a_reused_nonce():
    seen: set[str] = set()

    def seen_nonce(nonce: str) -> bool:
        was_seen = nonce in seen
        seen.add(nonce)
        return was_seen

    assert verify_signed(SECRET, BODY, signed(BODY), now=NOW, seen_nonce=seen_nonce) is None
    assert verify_signed(SECRET, BODY, signed(BODY), now=NOW, seen_nonce=seen_nonce) == (
        "nonce reused"
    )


# Callbacks from the gateway


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("+86-138-0013-8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("106900001234", "106900001234"),
        ("+85291234567", "+85291234567"),
    ],
)
def test_normalize_number(raw, expected):
    assert normalize_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "138-0013-800x", "+", "12"])
def test_normalize_number_refuses_what_is_not_a_number(raw):
    with pytest.raises(ValueError, match="not a phone number"):
        normalize_number(raw)


def test_delivery_report_for_a_sent_message_parses(gw):
    [result] = gateway_at(gw.url).send([sms(1)])
    at = datetime(2024, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    body, headers = gw.report_body(result.message_id, status="failed", error_code="UNDELIV", at=at)

    assert verify_signed(SECRET, body, headers, now=time.time(), seen_nonce=never_seen) is None
    [report] = parse_reports(body)

    assert (report.message_id, report.client_id) == (result.message_id, "round-1-resident-1")
    assert (report.to, report.status, report.error_code) == ("13800138000", "failed", "UNDELIV")
    assert report.time == at and report.time.utcoffset() == timedelta(hours=8)


def test_delivery_report_accepts_a_numeric_error_code_and_z_time():
    body = json.dumps(
        {
            "reports": [
                {
                    "message_id": "m1",
                    "to": "+8613800138000",
                    "status": "expired",
                    "error_code": 408,
                    "time": "2024-03-01T00:30:00Z",
                }
            ]
        }
    ).encode()

    [report] = parse_reports(body)

    assert (report.client_id, report.error_code) == ("", "408")
    assert report.time == datetime(2024, 3, 1, 0, 30, tzinfo=UTC)


GOOD_REPORT = {
    "message_id": "m1",
    "client_id": "c1",
    "to": "13800138000",
    "status": "delivered",
    "error_code": "",
    "time": "2024-03-01T08:30:00+08:00",
}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not UTF-8 JSON"),
        (b'{"reports": "\xff"}', "not UTF-8 JSON"),
        (b"[]", 'no "reports" list'),
        (b'{"reports": {}}', 'no "reports" list'),
        (b'{"reports": [1]}', "not an object"),
        (json.dumps({"reports": [{**GOOD_REPORT, "message_id": ""}]}).encode(), "message_id"),
        (json.dumps({"reports": [{**GOOD_REPORT, "status": "read"}]}).encode(), "unknown status"),
        (json.dumps({"reports": [{**GOOD_REPORT, "to": "n/a"}]}).encode(), "not a phone number"),
        (json.dumps({"reports": [{**GOOD_REPORT, "error_code": None}]}).encode(), "error_code"),
        (json.dumps({"reports": [{**GOOD_REPORT, "time": "yesterday"}]}).encode(), "ISO 8601"),
        (
            json.dumps({"reports": [{**GOOD_REPORT, "time": "2024-03-01T08:30:00"}]}).encode(),
            "no UTC offset",
        ),
        (b"[" * 100_000, "not UTF-8 JSON"),
    ],
)
def test_malformed_delivery_reports_are_refused_with_a_reason(body, reason):
    with pytest.raises(ValueError, match=reason):
        parse_reports(body)


def test_inbound_reply_parses_with_the_sender_normalised(gw):
    body, headers = gw.inbound_body("13800138000", "1 36.5")

    assert verify_signed(SECRET, body, headers, now=time.time(), seen_nonce=never_seen) is None
    [reply] = parse_inbound(body)

    assert (reply.sender, reply.to, reply.text) == ("13800138000", "106900001234", "1 36.5")
    assert reply.message_id and reply.time.tzinfo is not None


GOOD_INBOUND = {
    "from": "+86 138 0013 8000",
    "to": "106900001234",
    "text": "",
    "time": "2024-03-01T08:30:00+08:00",
    "message_id": "in1",
}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not UTF-8 JSON"),
        (b'{"reports": []}', 'no "messages" list'),
        (json.dumps({"messages": [{**GOOD_INBOUND, "from": None}]}).encode(), "from"),
        (json.dumps({"messages": [{**GOOD_INBOUND, "text": 1}]}).encode(), "text"),
        (json.dumps({"messages": [{**GOOD_INBOUND, "message_id": ""}]}).encode(), "message_id"),
        (json.dumps({"messages": [{**GOOD_INBOUND, "time": "2024-03-01"}]}).encode(), "offset"),
    ],
)
def test_malformed_inbound_messages_are_refused_with_a_reason(body, reason):
    with pytest.raises(ValueError, match=reason):
        parse_inbound(body)


def test_empty_inbound_text_is_kept():
    [reply] = parse_inbound(json.dumps({"messages": [GOOD_INBOUND]}).encode())

    assert (reply.sender, reply.text) == ("13800138000", "")


class CallbackReceiver:
    """Our side of the callbacks in miniature: verify, then parse; 401 / 400 / 200."""

    def __init__(self) -> None:
        self.nonces: set[str] = set()
        self.reports: list = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                reason = verify_signed(
                    SECRET, body, self.headers, now=time.time(), seen_nonce=receiver.seen_nonce
                )
                status = 401 if reason else 200
                if reason is None:
                    try:
                        receiver.reports.extend(parse_reports(body))
                    except ValueError:
                        status = 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/report"

    def seen_nonce(self, nonce: str) -> bool:
        was_seen = nonce in self.nonces
        self.nonces.add(nonce)
        return was_seen


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    thread = threading.Thread(
        target=receiver.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join()


def test_delivery_report_posted_over_http_is_verified_once(gw, receiver):
    [result] = gateway_at(gw.url).send([sms(1)])
    body, headers = gw.report_body(result.message_id)

    assert gw.post(receiver.url, body, headers)[0] == 200
    assert gw.post(receiver.url, body, headers)[0] == 401  # the same nonce again
    assert gw.post(receiver.url, body + b" ", headers)[0] == 401  # tampered on the way
    assert [(r.message_id, r.status) for r in receiver.reports] == [
        (result.message_id, "delivered")
    ]
