"""What the SMS channel writes to residents, and how it reads a reply in context. Pure.

Every text fits in one long SMS (MAX_SMS_CHARS): the greeting (community and purpose) is
shortened first, because the questions, the link and the opt-out must stay whole.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils.translation import gettext as _

from fangkong.followup.questions import Spec
from fangkong.followup.understand import SmsReply, parse_sms_reply, sms_short_form

# Carriers join up to ~5 parts of 67 characters into one long SMS; stay well inside.
MAX_SMS_CHARS = 300


def _fit(greeting: str, text: str, limit: int = MAX_SMS_CHARS) -> str:
    over = len(text) - limit
    if over <= 0 or not greeting:
        return text
    kept = greeting[:max(len(greeting) - over - 1, 1)] + "…"
    return text.replace(greeting, kept, 1)


def link_text(*, greeting: str, link: str) -> str:
    """The web channel's SMS: who asks and why, and the one-time link."""
    return _fit(greeting, _("%(greeting)s. Please answer today's questions here: %(link)s "
                            "Reply TD to unsubscribe") % {"greeting": greeting, "link": link})


def questions_text(*, greeting: str, spec: Spec, link: str, for_several: bool) -> str:
    """The sms channel's SMS: the questions in short form (with the opt-out) and the link.
    `for_several`: a proxy answers for several residents with one reply. The link text
    when the questionnaire asks nothing by SMS or the short form cannot fit."""
    questions = sms_short_form(spec)
    if not questions:
        return link_text(greeting=greeting, link=link)
    who = _("One reply answers for everyone you look after. ") if for_several else ""
    text = _fit(greeting, _("%(greeting)s. %(who)s%(questions)s Or answer here: %(link)s") % {
        "greeting": greeting, "who": who, "questions": questions, "link": link})
    return text if len(text) <= MAX_SMS_CHARS else link_text(greeting=greeting, link=link)


def thanks_text() -> str:
    return _("Thank you: your answers have been received. Your grid worker will contact "
             "you if anything is needed.")


def reask_text(problems: list[str]) -> str:
    """The polite re-ask: what was not understood or is missing, as many as fit."""
    ending = _("Please reply again. Reply ? for help.")
    kept: list[str] = []
    for problem in problems:
        if len(" ".join([*kept, problem, ending])) > MAX_SMS_CHARS:
            break
        kept.append(problem)
    return " ".join([*kept, ending])[:MAX_SMS_CHARS]


def form_text(link: str) -> str:
    """For answers that cannot be given by SMS (a question asked on the form only)."""
    return _("Thank you. Please answer the remaining questions on the form: %(link)s") % {
        "link": link}


def idle_help_text() -> str:
    """Help for a known number with nothing to answer at the moment."""
    return _("This number sends your community's health check-ins. There is nothing to "
             "answer now. Reply TD to unsubscribe.")


def opted_out_text() -> str:
    return _("You are unsubscribed: no more check-in messages will be sent to this number. "
             "Your grid worker may still call or visit.")


def _remaining(spec: Spec, earlier: dict[str, Any]) -> Spec | None:
    """The questions still open after `earlier`, with the conditions they already meet
    dropped: a reply "38.5 2" after "1" is read as the temperature and the cough."""
    questions = []
    for question in spec.questions:
        if question.key in earlier:
            continue
        when = []
        for key, allowed in question.when:
            if key not in earlier:
                when.append((key, allowed))
            elif not dataclasses.replace(question, when=((key, allowed),)).applies(earlier):
                break
        else:
            questions.append(dataclasses.replace(question, when=tuple(when)))
    if not any(q.sms for q in questions):
        return None
    return Spec(questions=tuple(questions))


def reply_read(spec: Spec, text: str, earlier: dict[str, Any]) -> SmsReply:
    """A reply read as a whole answer, or, after an incomplete one, as the rest of it:
    whichever leaves fewer problems, the rest when equal (it is what we just asked for)."""
    whole = parse_sms_reply(spec, text)
    if not earlier or whole.opt_out or whole.help:
        return whole
    rest_spec = _remaining(spec, earlier)
    if rest_spec is None:
        return whole
    rest = parse_sms_reply(rest_spec, text)
    return rest if len(rest.problems) <= len(whole.problems) else whole
