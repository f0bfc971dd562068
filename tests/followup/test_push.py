"""Group-robot pushes against fake WeCom and DingTalk robots over real HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from fangkong.followup.push import RobotTarget, push_markdown, validate_robot_url
from tests.fakes.group_robot import FakeGroupRobot

DING_SECRET = "SEC0123456789abcdef"


@pytest.fixture
def wecom() -> Iterator[FakeGroupRobot]:
    with FakeGroupRobot("wecom") as robot:
        yield robot


@pytest.fixture
def dingtalk() -> Iterator[FakeGroupRobot]:
    with FakeGroupRobot("dingtalk", secret=DING_SECRET) as robot:
        yield robot


def test_wecom_push_arrives_as_markdown_with_the_title_as_heading(wecom):
    result = push_markdown(RobotTarget("wecom", wecom.url), "发热预警", "3 户今日体温异常")

    assert result.ok and result.error == ""
    assert wecom.received == [
        {"msgtype": "markdown", "markdown": {"content": "### 发热预警\n\n3 户今日体温异常"}}
    ]


def test_signed_dingtalk_push_arrives_as_markdown(dingtalk):
    target = RobotTarget("dingtalk", dingtalk.url, secret=DING_SECRET)

    result = push_markdown(target, "发热预警", "3 户今日体温异常")

    assert result.ok
    [message] = dingtalk.received
    assert message["msgtype"] == "markdown"
    assert message["markdown"] == {"title": "发热预警", "text": "### 发热预警\n\n3 户今日体温异常"}


def test_dingtalk_robot_without_signing_takes_a_plain_push():
    with FakeGroupRobot("dingtalk") as robot:
        assert push_markdown(RobotTarget("dingtalk", robot.url), "标题", "正文").ok
        assert len(robot.received) == 1


def test_wrong_dingtalk_secret_is_refused_without_retry(dingtalk):
    target = RobotTarget("dingtalk", dingtalk.url, secret="SECwrong")

    result = push_markdown(target, "标题", "正文")

    assert (result.ok, result.retry) == (False, False)
    assert result.error.startswith("errcode 310000")
    assert dingtalk.received == []


def test_dingtalk_signature_over_an_hour_old_is_refused(dingtalk):
    two_hours_ago = int((time.time() - 7200) * 1000)
    target = RobotTarget("dingtalk", dingtalk.url, secret=DING_SECRET)

    result = push_markdown(target, "标题", "正文", now_ms=two_hours_ago)

    assert not result.ok and "310000" in result.error


def test_signed_dingtalk_push_without_its_secret_is_refused(dingtalk):
    result = push_markdown(RobotTarget("dingtalk", dingtalk.url), "标题", "正文")

    assert not result.ok and "310000" in result.error


def test_wrong_wecom_key_is_refused_without_retry(wecom):
    url = wecom.url.replace(wecom.credential, "00000000-0000-0000-0000-000000000000")

    result = push_markdown(RobotTarget("wecom", url), "标题", "正文")

    assert (result.ok, result.retry) == (False, False)
    assert result.error.startswith("errcode 93000")


@pytest.mark.parametrize(("kind", "errcode"), [("wecom", 45009), ("dingtalk", 130101)])
def test_rate_limited_push_asks_for_a_retry(kind, errcode):
    with FakeGroupRobot(kind, secret=DING_SECRET if kind == "dingtalk" else "") as robot:
        target = RobotTarget(kind, robot.url, secret=robot.secret)
        robot.rate_limit_next(1)

        limited = push_markdown(target, "标题", "正文")
        retried = push_markdown(target, "标题", "正文")

        assert (limited.ok, limited.retry) == (False, True)
        assert str(errcode) in limited.error
        assert retried.ok
        assert robot.errcodes == [errcode, 0]


def test_robot_outage_asks_for_a_retry(wecom):
    wecom.fail_next(1, status=502)

    result = push_markdown(RobotTarget("wecom", wecom.url), "标题", "正文")

    assert (result.ok, result.retry, result.error) == (False, True, "HTTP 502")


def test_unreachable_robot_gives_ok_false_without_raising():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k"

    result = push_markdown(RobotTarget("wecom", url), "标题", "正文", timeout=2)

    assert (result.ok, result.retry) == (False, True)
    assert result.error.startswith("network:")


def test_text_over_4096_bytes_is_cut_so_that_wecom_takes_it(wecom):
    result = push_markdown(RobotTarget("wecom", wecom.url), "名单", "张三、" * 2000)

    assert result.ok
    content = wecom.received[0]["markdown"]["content"]
    assert content.endswith("…") and len(content.encode()) <= 4096


def test_url_that_is_not_a_webhook_is_not_contacted():
    result = push_markdown(RobotTarget("wecom", "file:///etc/passwd"), "标题", "正文")

    assert (result.ok, result.retry) == (False, False)
    assert result.error.startswith("invalid webhook URL")


WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=6f4b0e2c9d"


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("wecom", WECOM),
        ("dingtalk", DINGTALK),
        ("dingtalk", DINGTALK.replace(".com/", ".com:443/")),
        ("wecom", "http://127.0.0.1:8080/cgi-bin/webhook/send?key=k"),
        ("dingtalk", "http://localhost:9000/robot/send?access_token=t"),
        ("dingtalk", "https://[::1]:9000/robot/send?access_token=t"),
    ],
)
def test_validate_robot_url_accepts_webhooks_and_local_relays(kind, url):
    assert validate_robot_url(kind, url) is None


@pytest.mark.parametrize(
    ("kind", "url", "reason"),
    [
        ("slack", WECOM, "unknown robot kind"),
        ("wecom", WECOM.replace("https://", "http://"), "https://"),
        ("wecom", "ftp://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "https://"),
        ("wecom", DINGTALK, "qyapi.weixin.qq.com"),
        ("dingtalk", WECOM, "oapi.dingtalk.com"),
        ("wecom", WECOM.replace(".qq.com/", ".qq.com.example.net/"), "qyapi.weixin.qq.com"),
        ("wecom", WECOM.replace(".qq.com/", ".qq.com:8443/"), "qyapi.weixin.qq.com"),
        ("wecom", "https://qyapi.weixin.qq.com@example.net/cgi-bin/webhook/send?key=k", "user"),
        ("wecom", WECOM.replace("/send", "/upload_media"), "path"),
        ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "key="),
        ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=", "key="),
        ("dingtalk", "https://oapi.dingtalk.com/robot/send?token=abc", "access_token="),
        ("dingtalk", "http://localhost:9000/other?access_token=t", "path"),
        ("wecom", WECOM + " ", "spaces"),
        ("wecom", WECOM + "\n", "control"),
        ("wecom", WECOM + "中", "non-ASCII"),
        ("wecom", "https://qyapi.weixin.qq.com:x/cgi-bin/webhook/send?key=k", "malformed"),
        ("wecom", "", "https://"),
    ],
)
def test_validate_robot_url_refuses_what_is_not_a_webhook(kind, url, reason):
    assert reason in (validate_robot_url(kind, url) or "")
