"""Understanding what a resident typed, said (already transcribed) or pressed on a keypad.

Pure functions, no database. Every answer goes through `Question.check` before it is
handed back, so a caller stores `Understood.value` as it is; when an answer is not
understood, `Understood.problem` is a polite re-ask in the interface language.

Chinese numbers are read as people say them: 三十六点八, 三十七度二 (度 as the decimal
point), 三七点五 (digit by digit), 幺 for 1, 两 for 2, 一百零五, 两万三.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from fangkong.followup.questions import Kind, Question, Spec
from fangkong.lib.text import find_unsafe_char, to_halfwidth

# Readings in this range are a body temperature in °F: refused rather than converted.
FAHRENHEIT_MIN = Decimal("93")
FAHRENHEIT_MAX = Decimal("110")
OPT_OUT_WORDS = frozenset({"td", "t", "退订", "取消"})
HELP_WORDS = frozenset({"?", "帮助", "help"})

_PUNCT = str.maketrans({"。": ".", "、": ",", "…": ".", "～": "~", "“": '"', "”": '"'})


def _normalise(text: str) -> str:
    """Half-width, lower case, Chinese punctuation as ASCII, outer spaces gone."""
    return to_halfwidth(text).translate(_PUNCT).lower().strip()


# --- yes / no -------------------------------------------------------------------------

_YES_NO_WORDS = {
    **dict.fromkeys(("不知道", "不清楚", "不确定", "不晓得", "不记得", "记不清", "说不准",
                     "说不清", "不好说", "不一定", "忘了", "也许", "或许", "可能", "dunno",
                     "maybe", "idk"), "unsure"),
    **dict.fromkeys(("不是没有", "是的", "是", "有的", "有", "对的", "对", "有点", "有一点",
                     "一点点", "一点", "有些", "确实", "发烧", "发热", "咳嗽", "yes", "y",
                     "yeah", "yep", "1"), "yes"),
    **dict.fromkeys(("不是", "不对", "没有", "没", "无", "否", "不", "未", "正常", "还好",
                     "挺好", "很好", "健康", "no", "n", "nope", "none", "not", "2"), "no"),
    **dict.fromkeys(("嗯", "恩"), "weak"),
    # A contrast ends a negation's reach: "没有吧又有点" says no, then yes.
    **dict.fromkeys(("又", "但", "但是", "可是", "不过", "还"), "but"),
}
_CJK_WORDS = sorted((w for w in _YES_NO_WORDS if not w.isascii()), key=len, reverse=True)
_YES_NO_TOKEN = re.compile(r"[a-z]+|\d+(?:\.\d+)?|" + "|".join(_CJK_WORDS) + r"|.", re.S)
_CLAUSE = re.compile(r"[,.;!?:~]+")
# A number with a decimal part ("38.2", "36,8") is a reading, not a 1 or 2 for yes or no.
_DECIMAL = re.compile(r"\d+[.,]\d+")


def parse_yes_no(text: str) -> bool | None:
    """True or False, or None when the text says neither or both ("不知道", "有没有").

    A negation covers the words after it up to the end of the clause or a contrast, so
    "没有发烧" and "不咳嗽" are False while "有点咳嗽" is True. A bare 嗯 is a yes only
    when nothing else is said. The digits 1 and 2 alone mean yes and no."""
    votes: set[bool] = set()
    weak = False
    for clause in _CLAUSE.split(_DECIMAL.sub(" ", _normalise(text))):
        negated = False
        for token in _YES_NO_TOKEN.findall(clause):
            meaning = _YES_NO_WORDS.get(token)
            if meaning == "unsure":
                return None
            if meaning == "but":
                negated = False
            elif meaning == "no":
                votes.add(False)
                negated = True
            elif meaning == "yes" and not negated:
                votes.add(True)
            elif meaning == "weak":
                weak = True
    if len(votes) == 1:
        return votes.pop()
    return True if weak and not votes else None


# --- numbers --------------------------------------------------------------------------

_DIGIT = {**{str(d): d for d in range(10)}, "零": 0, "〇": 0, "一": 1, "幺": 1, "壹": 1,
          "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3, "四": 4, "肆": 4, "五": 5, "伍": 5,
          "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}


def _section(text: str) -> int | None:
    """A number below 10000 written with 十/百/千: "三百零五", "十二", "一千五" (= 1500)."""
    total, digit, last, zero = 0, None, 10000, False
    for char in text:
        if char in _DIGIT:
            if digit is not None:
                return None
            if _DIGIT[char] == 0:
                zero = True
            else:
                digit = _DIGIT[char]
        elif char in _UNIT:
            unit = _UNIT[char]
            if unit >= last:
                return None
            if digit is None:
                if unit != 10 or total or zero:
                    return None
                digit = 1  # "十二" is 12
            total += digit * unit
            last, digit, zero = unit, None, False
        else:
            return None
    if digit is not None:
        # After a unit a lone digit is the next unit down ("一百五" = 150), after 零 it is
        # ones ("一百零五" = 105).
        total += digit * (1 if zero or last == 10000 else last // 10)
    return total


def _integer(text: str) -> int | None:
    if not text:
        return None
    if all(char in _DIGIT for char in text):
        return int("".join(str(_DIGIT[char]) for char in text))  # "365", "三七", "007"
    high, wan, low = text.partition("万")
    if not wan:
        return _section(text)
    if len(low) == 1 and _DIGIT.get(low):
        rest: int | None = _DIGIT[low] * 1000  # "两万三" = 23000
    else:
        rest = _integer(low) if low else 0
    top = _integer(high)
    if top is None or rest is None or rest >= 10000:
        return None
    return top * 10000 + rest


def parse_chinese_number(text: str) -> Decimal | None:
    """A number in digits, Chinese numerals or both, or None when the text is not one.

    Reads "36.5", "36,8" (decimal comma), "1,000", "三十六点八", "三十七度二" and "37度5"
    (度 as the decimal point), "三十七度", "三七点五" (digit by digit), "一百零五",
    "两万三", "三十七度半", "负五". Never raises."""
    text = "".join(_normalise(text).split()).rstrip(".!?~")
    if not text or len(text) > 40:
        return None
    negative = text[0] in "-负"
    text = text[1:] if negative else text
    half = text.endswith("半")
    if half:
        text = text[:-1].removesuffix("个")
    text = text.removesuffix("度")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        text = text.replace(",", "")
    text = re.sub(r"(?<=\d),(?=\d+$)", ".", text).replace("点", ".").replace("度", ".")
    whole, dot, fraction = text.partition(".")
    if (dot and not fraction) or (half and dot) or any(c not in _DIGIT for c in fraction):
        return None
    integer = _integer(whole) if whole or not fraction else 0
    if integer is None:
        return None
    digits = "".join(str(_DIGIT[char]) for char in fraction)
    value = Decimal(f"{integer}.{digits}" if digits else str(integer))
    value += Decimal("0.5") if half else 0
    return -value if negative else value


# --- temperature ----------------------------------------------------------------------

_FAHRENHEIT_MARK = re.compile(r"℉|华氏|fahrenheit|°\s*f|(?<=\d)\s*f(?![a-z])")
_TEMPERATURE_NOISE = re.compile(r"体温|温度|今天|我的|是|大概|大约|约|左右|差不多|摄氏|"
                                r"℃|℉|华氏|fahrenheit|celsius|°|[cf](?![a-z])|\s")


def _read_temperature(text: str) -> tuple[Decimal | None, bool]:
    """The reading in the text and whether it is in °F."""
    text = _normalise(text)
    fahrenheit = bool(_FAHRENHEIT_MARK.search(text))
    value = parse_chinese_number(_TEMPERATURE_NOISE.sub("", text))
    if value is None:
        return None, fahrenheit
    if value == value.to_integral_value() and 350 <= value <= 420:
        value /= 10  # "365" and "三六五" typed without the point
    return value, fahrenheit or FAHRENHEIT_MIN <= value <= FAHRENHEIT_MAX


def parse_temperature(text: str, *, keypad: bool = False) -> Decimal | None:
    """A reading in °C, or None. The range is left to `Question.check`, but readings in °F
    ("98.6", "98.6F", "华氏100度") are None: they are never converted silently.

    On the keypad the caller presses two or three digits, optionally followed by # or *:
    "37" is 37.0, "365" is 36.5, "36*5#" is 36.5; four digits are refused."""
    if keypad:
        match = re.fullmatch(r"(\d\d)\*?(\d)?", to_halfwidth(text).strip().rstrip("#*"))
        if match is None:
            return None
        return Decimal(f"{match[1]}.{match[2] or 0}")
    value, fahrenheit = _read_temperature(text)
    return None if fahrenheit else value


# --- choices --------------------------------------------------------------------------

_CHOICE_SEPARATOR = re.compile(r"[\s,;/]+|和|及|与|跟|以及|还有")
_FILLER = "了的啊吧呢呀哦嗯都也还就我在是有点些比较一直和"
_NEGATION_AFTER = re.compile(r"(?:没有|没|无|不是|不)[了的啊吧呢呀.!~]*")


def _codes(question: Question) -> dict[str, str]:
    return {o.keypad or str(n): o.value for n, o in enumerate(question.options, start=1)}


def _choose_by_code(question: Question, text: str) -> list[str] | None:
    codes = _codes(question)
    text = re.sub(r"^第(.+?)(?:个|项|种|条)?$", lambda m: str(parse_chinese_number(m[1])), text)
    chosen: list[str] = []
    for part in re.split(r"[\s,;#*]+", text):
        if part in codes:
            chosen.append(codes[part])
        elif question.kind == Kind.MULTI and part and all(c in codes for c in part):
            chosen.extend(codes[c] for c in part)  # "13" pressed for options 1 and 3
        elif part:
            return None
    return chosen or None


def _names(question: Question) -> list[tuple[str, str]]:
    """(name, value) for every way of naming an option, longest first: the label, the
    label without a parenthesis, its parts split on / and 、, and the value itself."""
    names: list[tuple[str, str]] = []
    for option in question.options:
        label = option.label.lower()
        core = re.sub(r"[(（].*?[)）]", " ", label).strip()
        inner = " ".join(re.findall(r"[(（](.*?)[)）]", label))
        parts = [p for p in re.split(r"[/、,，或\s]", f"{core} {inner}") if len(p) >= 2]
        names += [(n, option.value) for n in {label, core, option.value, *parts} if n]
    return sorted(names, key=lambda nv: (-len(nv[0]), nv[0]))


def _choose_by_name(question: Question, text: str) -> list[str] | None:
    names = dict(_names(question))
    pattern = re.compile("|".join(re.escape(n) for n in names))
    found = list(pattern.finditer(text)) if names else []
    if not found:
        return [] if question.kind == Kind.MULTI and parse_yes_no(text) is False else None
    chosen: list[str] = []
    for index, match in enumerate(found):
        start = found[index - 1].end() if index else 0
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        before = _CHOICE_SEPARATOR.split(text[start:match.start()])[-1]
        after = _CHOICE_SEPARATOR.split(text[match.end():end], maxsplit=1)
        # "没有咳嗽" and "咳嗽没有" both say no to 咳嗽; "咳嗽没有发烧" does not.
        negated = parse_yes_no(before) is False or bool(
            (len(after) > 1 or end == len(text)) and _NEGATION_AFTER.fullmatch(after[0]))
        if not negated and names[match[0]] not in chosen:
            chosen.append(names[match[0]])
    leftover = pattern.sub(" ", text)
    for piece in _CHOICE_SEPARATOR.split(leftover):
        if piece.strip(_FILLER) and parse_yes_no(piece) is None:
            return None  # something said that is not an option: better ask again
    return chosen


def _choose(question: Question, text: str, *, keypad: bool) -> str | list[str] | None:
    text = _normalise(text).strip(".!?~")
    chosen = _choose_by_code(question, text)
    if chosen is None and not keypad:
        chosen = _choose_by_name(question, text)
    if chosen is None:
        return None
    if question.kind == Kind.SINGLE:
        return chosen[0] if len(chosen) == 1 else None
    return chosen


# --- one answer -----------------------------------------------------------------------


@dataclass(frozen=True)
class Understood:
    ok: bool
    value: Any = None
    problem: str = ""


class _NotUnderstood(Exception):
    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def _reask(prompt: str, reason: str = "") -> str:
    if reason:
        return _("%(reason)s %(question)s") % {"reason": reason, "question": prompt}
    return _("Sorry, I did not catch that. %(question)s") % {"question": prompt}


_NUMBER_NOISE = re.compile(r"^(?:一共|总共|共|大概|大约|约|有|是)+|(?:左右|个人|个|位|人|次|天|岁|口)+$")


def _read(question: Question, text: str, *, keypad: bool) -> Any:
    """The raw answer, before `Question.check`; raises _NotUnderstood."""
    value: Any
    if question.kind == Kind.TEXT:
        value = text.strip() or None
    elif question.kind == Kind.YES_NO and keypad:
        codes = {o.keypad: {"yes": True, "no": False}.get(o.value)
                 for o in question.options if o.keypad} or {"1": True, "2": False}
        value = codes.get(to_halfwidth(text).strip().rstrip("#"))
    elif question.kind == Kind.YES_NO:
        value = parse_yes_no(text)
    elif question.kind == Kind.TEMPERATURE and keypad:
        value = parse_temperature(text, keypad=True)
    elif question.kind == Kind.TEMPERATURE:
        value, fahrenheit = _read_temperature(text)
        if fahrenheit:
            raise _NotUnderstood(_("That looks like degrees Fahrenheit: please give the "
                                   "temperature in degrees Celsius, like 36.5."))
    elif question.kind == Kind.NUMBER:
        digits = to_halfwidth(text).strip().rstrip("#").replace("*", ".")
        value = parse_chinese_number(digits if keypad else _NUMBER_NOISE.sub("", _normalise(text)))
    else:
        value = _choose(question, text, keypad=keypad)
    if value is None:
        raise _NotUnderstood()
    return value


def _understand(question: Question, text: str, *, keypad: bool, prompt: str) -> Understood:
    text = text.replace("\r\n", "\n")
    if "\ufffd" in text or find_unsafe_char(text, multiline=True) is not None:
        return Understood(False, problem=_reask(prompt, _("Part of the answer could not be read.")))
    if not text.strip() and not question.required:
        return Understood(True, None)
    try:
        return Understood(True, question.check(_read(question, text, keypad=keypad)))
    except _NotUnderstood as exc:
        return Understood(False, problem=_reask(prompt, exc.reason))
    except ValueError as exc:
        return Understood(False, problem=_reask(prompt, str(exc)))


def _prompt(question: Question, *, keypad: bool) -> str:
    if keypad and question.voice:
        return question.voice
    if question.options:
        labels = "/".join(o.label for o in question.options)
        return _("%(question)s (%(options)s)") % {"question": question.label, "options": labels}
    return question.label


def understand_answer(question: Question, text: str, *, keypad: bool = False) -> Understood:
    """The checked answer to one question, or a re-ask naming the question (its voice
    prompt for keypad input, else its label). A blank answer to a question that is not
    required is understood as skipped: ok with the value None."""
    return _understand(question, text, keypad=keypad, prompt=_prompt(question, keypad=keypad))


# --- SMS replies ----------------------------------------------------------------------


@dataclass(frozen=True)
class SmsReply:
    answers: dict[str, Any]
    problems: list[str]
    opt_out: bool = False
    help: bool = False


_SMS_SEPARATOR = re.compile(r"[\s,;]+")
_NUMERALS = "零〇一二两三四五六七八九十幺"
_NUMBER_RUN = re.compile(rf"[\d{_NUMERALS}][\d{_NUMERALS}点度.]*半?")
_NOT_A_SUBJECT = frozenset("有没不无是否吗呢吧了的您你我今天请问按回复一点些都也还很太")


def _temperature_like(text: str) -> bool:
    value, fahrenheit = _read_temperature(text)
    return value is not None and (fahrenheit or Decimal(35) <= value <= Decimal(42))


def _split_temperature(token: str) -> tuple[str | None, str]:
    """("37度8", "发烧") for "发烧37度8": a reading inside words, and the words. The words
    are dropped when they only name the temperature ("体温37.5")."""
    for match in _NUMBER_RUN.finditer(token):
        if match[0] != token and _temperature_like(match[0]):
            rest = f"{token[:match.start()]} {token[match.end():]}"
            return match[0], rest.strip() if _TEMPERATURE_NOISE.sub("", rest).strip(".!?~") else ""
    return None, token


def _bigrams(text: str) -> set[str]:
    pairs = (text[i:i + 2] for i in range(len(text) - 1))
    return {p for p in pairs if all("\u4e00" <= c <= "\u9fff" and c not in _NOT_A_SUBJECT
                                    for c in p)}


def _subject(spec: Spec, token: str) -> Question | None:
    """The one yes/no question a free-text token names ("不发烧" names 发烧?), if any."""
    words = _bigrams(token)
    named = [q for q in spec.questions
             if q.sms and q.kind == Kind.YES_NO and words & _bigrams(f"{q.sms} {q.label}")]
    return named[0] if len(named) == 1 else None


class _SmsReader:
    """Places the tokens of one reply on the questions, in order and by their conditions."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.answers: dict[str, Any] = {}
        self.problems: list[str] = []
        self.asked_again: set[str] = set()
        self.extra: list[str] = []
        self.pending: str | None = None  # a reading waiting for its question to apply

    def answer(self, question: Question, text: str) -> bool:
        result = _understand(question, text, keypad=False, prompt=question.sms)
        if result.ok:
            self.answers[question.key] = result.value
        else:
            self.problems.append(result.problem)
            self.asked_again.add(question.key)
        return result.ok

    def place_pending(self) -> None:
        for q in self.spec.questions:
            if (self.pending is not None and q.sms and q.kind == Kind.TEMPERATURE
                    and q.key not in self.answers and q.applies(self.answers)):
                self.answer(q, self.pending)
                self.pending = None

    def take_named(self, token: str) -> bool:
        """Answer the yes/no question the token names in words; False if it names none."""
        q = _subject(self.spec, token)
        said = _understand(q, token, keypad=False, prompt=q.sms) if q else None
        if q is None or said is None or not said.ok:
            return False
        if self.answers.get(q.key, said.value) != said.value:
            del self.answers[q.key]  # said both ways: ask again
            self.problems.append(_reask(q.sms))
            self.asked_again.add(q.key)
        elif q.key not in self.answers:
            if q.applies(self.answers):
                self.answers[q.key] = said.value
            else:
                self.extra.append(token)
        return True

    def take(self, token: str) -> bool:
        """Place one token; False when the tokens after it can no longer be placed."""
        reading, token = _split_temperature(token)
        if reading is not None:
            self.extra += [self.pending] if self.pending else []
            self.pending = reading
        if token and not self.take_named(token):
            question = self.spec.next_question(self.answers, channel="sms")
            if question is None:
                self.extra.append(token)
            elif (self.pending is None and _temperature_like(token)
                  and not _understand(question, token, keypad=False, prompt="").ok):
                self.pending = token  # "37.8 1": the reading came before the yes
            elif not self.answer(question, token):
                return False
        self.place_pending()
        return True

    def finish(self) -> SmsReply:
        self.place_pending()
        self.extra += [self.pending] if self.pending else []
        answers = self.spec.clean(self.answers)
        for q in self.spec.questions:
            if (q.sms and q.required and q.key not in answers
                    and q.key not in self.asked_again and q.applies(answers)):
                self.problems.append(_("Please also answer: %(question)s") % {"question": q.sms})
        if self.extra:
            self.problems.append(_("Sorry, “%(text)s” does not answer a question asked.")
                                 % {"text": " ".join(self.extra)})
        return SmsReply(answers=answers, problems=self.problems)


def parse_sms_reply(spec: Spec, text: str) -> SmsReply:
    """The answers in one SMS reply to the questions asked by SMS (those with `sms`
    text), positional in the order asked ("1 36.8"), or in words ("没有发烧",
    "发烧37度8"). What is not understood, missing or left over comes back as problems;
    the answers understood before a problem are kept. TD/T/退订/取消 alone is an opt-out,
    ?/帮助/help alone a request for help."""
    message = _normalise(text)
    word = message.strip(".!~")
    if word in OPT_OUT_WORDS:
        return SmsReply(answers={}, problems=[], opt_out=True)
    if word in HELP_WORDS or (word and not word.strip("?")):
        return SmsReply(answers={}, problems=[], help=True)
    # "36,8" is a reading with a decimal comma, not two answers.
    message = re.sub(r"(?<![\d.])(3[5-9]|4[0-2]),(\d)(?![\d.,])", r"\1.\2", message)
    tokens = [t for t in _SMS_SEPARATOR.split(message) if t.strip(".!?~")]
    reader = _SmsReader(spec)
    for index, token in enumerate(tokens):
        question = spec.next_question(reader.answers, channel="sms")
        if question is not None and question.kind == Kind.TEXT:
            reader.answer(question, " ".join(tokens[index:]))  # free text takes the rest
            break
        if not reader.take(token):
            break
    return reader.finish()


def _sms_subject(question: Question) -> str:
    """"发烧" for "发烧?(1有2没有)"."""
    return re.sub(r"[(（].*?[)）]|[?？:：。.!！\s]", "", question.sms)


def _sms_label(spec: Spec, question: Question) -> str:
    text = question.sms
    if question.options and not re.search(r"\d", text):
        text += "(" + "".join(f"{o.keypad or n}{o.label}"
                              for n, o in enumerate(question.options, start=1)) + ")"
    conditions = []
    for key, allowed in question.when:
        earlier = spec.question(key)
        subject = _sms_subject(earlier)
        if allowed == (True,):
            conditions.append(subject)
        elif allowed == (False,):
            conditions.append(_("no %(subject)s") % {"subject": subject})
        else:
            labels = {o.value: o.label for o in earlier.options}
            conditions.append(f"{subject}=" + "/".join(labels.get(v, str(v)) for v in allowed))
    if conditions:
        text += _("(when %(condition)s)") % {"condition": "+".join(conditions)}
    return text


def _example(spec: Spec, *, yes: bool) -> str:
    """A complete reply, answering every yes/no question with `yes`."""
    answers: dict[str, Any] = {}
    tokens: list[str] = []
    while (q := spec.next_question(answers, channel="sms")) is not None:
        value: Any
        if q.kind == Kind.YES_NO:
            token, value = ("1", True) if yes else ("2", False)
        elif q.kind == Kind.TEMPERATURE:
            token = "37.5" if yes else "36.5"
            value = Decimal(token)
        elif q.kind == Kind.NUMBER:
            value = q.minimum if q.minimum is not None else min(Decimal(0), q.maximum or 0)
            token = str(value)
        elif q.options:
            token, value = next(iter(_codes(q).items()))
            value = [value] if q.kind == Kind.MULTI else value
        else:
            token = value = "…"  # noqa: S105 - an example answer, not a secret
        answers[q.key] = value
        tokens.append(token)
    return " ".join(tokens)


def sms_short_form(spec: Spec) -> str:
    """The questions asked by SMS in one line with example replies and the opt-out, e.g.
    "请回复：发烧?(1有2没有) 体温(发烧时填) 例：2 或 1 37.5 回复TD退订" in Chinese.
    Deterministic; "" when no question is asked by SMS."""
    asked = [q for q in spec.questions if q.sms]
    if not asked:
        return ""
    examples = list(dict.fromkeys(_example(spec, yes=yes) for yes in (False, True)))
    return _("Reply: %(questions)s e.g. %(examples)s Reply TD to unsubscribe") % {
        "questions": " ".join(_sms_label(spec, q) for q in asked),
        "examples": _(" or ").join(examples)}
