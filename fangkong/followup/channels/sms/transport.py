"""The web and sms channels over the HTTP SMS gateway (fangkong.followup.channels.sms.gateway).

One message per task: for the web channel the greeting and the one-time link, for the sms
channel the questions in short form plus the link (fangkong.followup.channels.sms.texts).
A task's key is the gateway's client_id, and the gateway sends a client_id once ever, so
a batch re-sent after a crash or a refused login never reaches a resident twice.

A phone that replied TD (an `SmsOptOut`) is sent nothing: its task ends "opted_out". A
missing number ends "invalid" and a landline "no_mobile" (a call may still reach it), both
without a request. `GatewayAuthError` (and a
configuration without account or secret, ValueError) is raised, not reported per message:
the dispatcher leaves the attempts "sending" and the contacts leased, and once the lease
has run out a worker re-sends them under the same keys.
"""

from __future__ import annotations

from django.conf import settings

from fangkong.followup.channels.base import Batch, Result, Task
from fangkong.followup.channels.sms.gateway import (
    GatewayConfig,
    OutgoingSms,
    SendResult,
    SmsGateway,
)
from fangkong.followup.channels.sms.texts import link_text, questions_text
from fangkong.followup.models import Outcome, SmsOptOut
from fangkong.lib.phone import PhoneError, parse_phone
from fangkong.residents.personal import phone_index

OUTCOMES = {
    "accepted": Outcome.DELIVERED,
    "invalid_number": Outcome.INVALID_NUMBER,
    "blocked": Outcome.OPTED_OUT,  # on the gateway's own unsubscribe list
    "rejected": Outcome.FAILED,
    "failed": Outcome.FAILED,  # outage or timeout: the plan's retries apply
    "throttled": Outcome.THROTTLED,
}


def gateway_client() -> SmsGateway:
    """A client for the configured gateway (ValueError when account or secret is unset)."""
    return SmsGateway(GatewayConfig(base_url=settings.SMS_GATEWAY_URL,
                                    account=settings.SMS_ACCOUNT, secret=settings.SMS_SECRET,
                                    sign=settings.SMS_SIGN))


def _mobile(number: str) -> bool:
    try:
        return parse_phone(number).kind == "mobile"
    except PhoneError:
        return False


def _result(task: Task, sent: SendResult) -> Result:
    detail = f"gateway: {sent.status} {sent.error}".strip()
    return Result(key=task.key, outcome=OUTCOMES.get(sent.status, Outcome.FAILED),
                  provider_id=sent.message_id[:64], detail=detail[:200])


class GatewayTransport:
    """Transport for the web and sms channels through the SMS gateway."""

    needs_phone = True

    def __init__(self, channel: str, gateway: SmsGateway) -> None:
        self.channel = channel
        self.gateway = gateway

    def _text(self, task: Task, batch: Batch) -> str:
        if self.channel == "sms":
            return questions_text(greeting=task.greeting, spec=batch.spec, link=task.link,
                                  for_several=bool(task.also_for))
        return link_text(greeting=task.greeting, link=task.link)

    def send(self, batch: Batch) -> list[Result]:
        """One message per task (see the module docstring); raises GatewayAuthError."""
        results: list[Result] = []
        mobiles = [task for task in batch.tasks if task.phone and _mobile(task.phone)]
        reachable = {task.key for task in mobiles}
        # No number at all: nothing to call either. A landline: a call may still reach it.
        results += [Result(key=task.key,
                           outcome=Outcome.NO_MOBILE if task.phone else Outcome.INVALID_NUMBER,
                           detail="no mobile number to text")
                    for task in batch.tasks if task.key not in reachable]
        index_of = {task.key: phone_index(task.phone) for task in mobiles}
        opted_out = set(SmsOptOut.objects.filter(phone_index__in=set(index_of.values()))
                        .values_list("phone_index", flat=True))
        outgoing = {task.key: task for task in mobiles if index_of[task.key] not in opted_out}
        results += [Result(key=task.key, outcome=Outcome.OPTED_OUT,
                           detail="replied TD earlier: not sent")
                    for task in mobiles if task.key not in outgoing]
        if outgoing:
            sent = self.gateway.send([OutgoingSms(client_id=task.key, to=task.phone,
                                                  text=self._text(task, batch))
                                      for task in outgoing.values()])
            results += [_result(outgoing[s.client_id], s) for s in sent
                        if s.client_id in outgoing]
        return results


def gateway_transport(channel: str) -> GatewayTransport:
    """The transport of `channel` ("web" or "sms") over the configured gateway."""
    return GatewayTransport(channel, gateway_client())


def sms_notify(*, resident, text: str, key: str) -> str:  # noqa: ANN001
    """Tell a resident something by SMS (their own mobile, else their proxy's) when a
    gateway is configured: "sent", or why not ("no gateway", "no mobile", "opted out",
    the gateway's status). `key` is the gateway's client_id, so calling again never sends
    twice. Raises nothing for a problem with the message; logs and returns it."""
    from fangkong.lib.crypto import unseal
    from fangkong.residents.personal import PHONE

    if not settings.SMS_GATEWAY_URL:
        return "no gateway"
    sealed = resident.phone_sealed
    if not sealed:
        proxy = resident.proxies.order_by("pk").first()
        sealed = proxy.phone_sealed if proxy else None
    number = unseal(bytes(sealed), purpose=PHONE) if sealed else ""
    if not number or not _mobile(number):
        return "no mobile"
    if SmsOptOut.objects.filter(phone_index=phone_index(parse_phone(number).number)).exists():
        return "opted out"
    try:
        sent = gateway_client().send([OutgoingSms(client_id=key, to=number, text=text)])[0]
    except Exception as exc:  # noqa: BLE001 - a notice must not break the job that sends it
        return f"failed: {type(exc).__name__}"
    return "sent" if sent.status == "accepted" else sent.status
