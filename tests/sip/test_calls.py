"""Robot calls over real SIP: a line machine's lines (baresip) call the rig's phones
through the rig's carrier (Kamailio), all on 127.0.0.1, and the outcomes land in the
test database as the dispatcher records them.

The line machine runs in this process, on threads, as `fangkong lines` runs it; its
writes must be committed for those threads to see them, so these are TransactionTestCases
that remove what they made afterwards (tests/followup/test_worker_crash.CommittedData).
The clock is pinned and moved by hand between the machine's passes, so retries minutes
apart take seconds. Prompts are short so that a call lasts a few seconds.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
import wave
from array import array
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from django.db.models import Max

from fangkong.followup.channels.voice.callcontrol import Prompt, Purpose
from fangkong.followup.channels.voice.sip.lines import SipConfig
from fangkong.followup.channels.voice.sip.machine import LineMachineLoop
from fangkong.followup.channels.voice.sip.rig import (
    BUSY,
    DECLINE,
    KEYS_FEVER,
    KEYS_NO_FEVER,
    SHORT_QUESTIONNAIRE,
    Rig,
)
from fangkong.followup.models import (
    Alert,
    Attempt,
    CallRecording,
    Contact,
    ContactState,
    LineMachine,
    NumberDial,
    Questionnaire,
)
from fangkong.followup.recordings import recording_audio
from fangkong.followup.rounds import round_open
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.lib import clock
from fangkong.lib.phone import parse_phone
from fangkong.residents.models import Resident, ResidentStatus, Tag
from fangkong.residents.personal import PHONE_FIELDS, seal_phone
from tests.followup.test_worker_crash import CommittedData
from tests.sip.conftest import sip_missing

SPEC = SHORT_QUESTIONNAIRE
PURPOSE = "健康随访"
PLAN = [{"channel": "voice", "at": 0, "retries": 1, "spacing": 2, "busy_spacing": 1},
        {"channel": "visit", "at": 10}]
# Keys: no fever; fever 38.5 (typed, then "1" to confirm the read-back).
NO_FEVER = KEYS_NO_FEVER
FEVER = KEYS_FEVER
RIG_PORT, PHONE_PORTS, LINE_PORTS = 25160, 26200, 22000


def tone_wav(hertz: int, seconds: float, rate: int = 16000) -> bytes:
    """A sine tone as a WAV upload (16 kHz, as a phone's recorder might make it)."""
    samples = array("h", (int(12000 * math.sin(2 * math.pi * hertz * n / rate))
                          for n in range(int(seconds * rate))))
    out = BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(samples.tobytes())
    return out.getvalue()


def sound_of(text: str, purpose: Purpose, machine: LineMachineLoop) -> float:
    return machine.prompts.sound(Prompt.of(text, purpose)).seconds


def speech_wav(folder: Path, text: str, after_s: float) -> Path:
    """A phone's microphone: silence for `after_s`, then `text` said, then silence."""
    spoken = folder / "said.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(spoken), text], check=True)  # noqa: S603,S607
    out = folder / "voice.wav"
    subprocess.run(["sox", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(out),  # noqa: S603,S607
                    "pad", f"{after_s:.2f}", "60"], check=True)
    return out


class SipCallsTest(CommittedData):
    folder: Path
    rig: Rig
    machine: LineMachineLoop

    @classmethod
    def setUpClass(cls) -> None:
        missing = sip_missing()
        if missing:
            raise pytest.skip.Exception(missing, _use_item_location=True)
        super().setUpClass()
        cls.folder = Path(tempfile.mkdtemp(prefix="fangkong-sip-"))
        cls.rig = Rig(cls.folder / "rig", port=RIG_PORT, phone_ports=PHONE_PORTS)
        cls.rig.start()
        config = SipConfig(trunk=cls.rig.trunk, user="02112345", lines=3, ring_seconds=4,
                           calls_per_second=20, port_base=LINE_PORTS, probe_seconds=0.5,
                           folder=cls.folder / "machine")
        cls.machine = LineMachineLoop(config, name="test-lines")
        cls.machine.lines.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.machine.lines.stop()
        cls.rig.stop()
        shutil.rmtree(cls.folder, ignore_errors=True)
        super().tearDownClass()

    def setUp(self) -> None:
        self.last_alert = Alert.objects.aggregate(last=Max("pk"))["last"] or 0
        self.phones: dict[int, dict] = {}  # residents' own phone columns, put back
        clock.set(clock.now().replace(hour=10, minute=0, second=0, microsecond=0))
        self.addCleanup(clock.reset)
        self.addCleanup(self._tidy)

    def _tidy(self) -> None:
        for number in list(self.rig.phones):
            self.rig.phones.pop(number).engine.stop()
        Alert.objects.filter(pk__gt=self.last_alert).delete()
        Resident.objects.bulk_update(
            [Resident(pk=pk, **fields) for pk, fields in self.phones.items()], PHONE_FIELDS)
        NumberDial.objects.all().delete()
        LineMachine.objects.all().delete()

    def _fixture_teardown(self) -> None:
        super()._fixture_teardown()
        Questionnaire.objects.filter(slug="", name="SIP test").delete()
        Tag.objects.filter(slug="sip_test").delete()

    # -- helpers --------------------------------------------------------------------------

    def residents_with(self, numbers: list[str]) -> list[Resident]:
        """Residents of the secretary's community given the rig's numbers, tagged for the
        campaign (their own numbers come back afterwards)."""
        from fangkong.accounts.models import User

        self.secretary = User.objects.select_related("area").get(username="community_secretary")
        residents = list(Resident.objects.filter(
            community=self.secretary.area, status=ResidentStatus.ACTIVE,
            proxies__isnull=True).order_by("pk")[:len(numbers)])
        tag, _ = Tag.objects.get_or_create(slug="sip_test", defaults={"name": "sip"})
        for resident, number in zip(residents, numbers, strict=True):
            self.phones[resident.pk] = {f: getattr(resident, f) for f in PHONE_FIELDS}
            for name, value in seal_phone(parse_phone(number)).fields().items():
                setattr(resident, name, value)
            resident.save(update_fields=PHONE_FIELDS)
            tag.residents.add(resident)
        return residents

    def open_round(self):  # noqa: ANN201
        questionnaire = Questionnaire.objects.create(name="SIP test")
        version = questionnaire.versions.create(number=1, spec=SPEC)
        now = clock.now()
        campaign = campaign_create(by=self.secretary, data=CampaignInput(
            name="SIP", purpose=PURPOSE, area=self.secretary.area, version=version,
            times=[f"{now:%H:%M}"], starts_on=now.date(), round_minutes=60, plan=PLAN,
            quiet_calls=[], quiet_sms=[], capacity={"voice": 3}, proxy_answering=False,
            target={"tags": ["sip_test"]}))
        campaign = campaign_start(by=self.secretary, campaign=campaign)
        return round_open(campaign=campaign, scheduled_for=now, now=now)

    def run_machine(self, *, seconds: float = 60) -> None:
        """Passes of the line machine until nothing is due now and no call is under way."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            claimed = self.machine.step()
            busy = any(t.is_alive() for t in self.machine.threads)
            if not claimed and not busy:
                return
            time.sleep(0.2)
        raise AssertionError("the line machine did not finish in time")

    def contact(self, resident: Resident) -> Contact:
        return Contact.objects.get(resident=resident, round__campaign__name="SIP")

    def attempts(self, resident: Resident) -> list[tuple[str, str]]:
        return list(Attempt.objects.filter(contact=self.contact(resident))
                    .order_by("pk").values_list("outcome", "detail"))

    # -- tests ----------------------------------------------------------------------------

    def test_answers_typed_on_the_keypad_land_in_the_database_and_a_fever_alerts(self) -> None:
        well, feverish = self.residents_with(["13800000101", "13800000102"])
        self.rig.phone("13800000101", keys=NO_FEVER)
        self.rig.phone("13800000102", keys=FEVER)
        self.open_round()

        self.run_machine()

        assert self.contact(well).state == ContactState.ANSWERED
        assert self.contact(well).answers["fever"][0] is False
        answered = self.contact(feverish)
        assert answered.state == ContactState.ANSWERED
        assert answered.answers["temperature"][0] == "38.5"
        assert answered.answered_via == "voice"
        assert Alert.objects.filter(resident=feverish, pk__gt=self.last_alert,
                                    title="发热").count() == 1
        # Every key the phones pressed reached the robot.
        pressed = sum(p.pressed for p in self.rig.phones.values())
        assert pressed == 1 + 6 and self.machine.transport.keys_heard >= pressed

    def test_busy_declined_unknown_and_unanswered_numbers_end_as_such_then_a_door_visit(
            self) -> None:
        numbers = [BUSY + "0001", DECLINE + "0001", "13800000199", "13800000103"]
        busy, declined, unknown, silent = self.residents_with(numbers)
        self.rig.phone("13800000103", answer=False)  # rings until the robot gives up
        self.open_round()

        self.run_machine()
        assert self.attempts(busy) == [("busy", "486 Busy Here")]
        assert self.attempts(declined) == [("rejected", "603 Decline")]
        assert self.attempts(unknown) == [("invalid", "404 Not Found")]
        assert self.attempts(silent) == [("no_answer", "487 ring timeout")]
        # A number that does not exist goes straight to the door visit; busy is called
        # back after a minute, no answer after two.
        assert self.contact(unknown).step == 1
        assert self.contact(busy).due_at == clock.now() + timedelta(minutes=1)
        assert self.contact(silent).due_at == clock.now() + timedelta(minutes=2)

        clock.set(clock.now() + timedelta(minutes=2))
        self.run_machine()
        for resident in (busy, silent):
            outcomes = [o for o, _d in self.attempts(resident)]
            assert len(outcomes) == 2
            contact = self.contact(resident)
            assert (contact.state, contact.step, contact.due_at) == ("pending", 1, None)
        assert [o for o, _d in self.attempts(declined)][-1] == "rejected"

    def test_a_killed_line_process_loses_no_attempt(self) -> None:
        [resident] = self.residents_with(["13800000104"])
        # Keys late enough for the line to be killed while the call is up.
        self.rig.phone("13800000104", keys=[(4.0, "2")])
        self.open_round()

        self.machine.step()
        talking: list[dict] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not talking:
            talking = [item for item in self.machine.lines.live() if item["state"] == "talking"]
            time.sleep(0.05)
        [live] = talking
        time.sleep(0.5)  # the greeting is playing
        os.kill(self.machine.lines.line(live["line"]).process.pid, signal.SIGKILL)
        for thread in self.machine.threads:
            thread.join(timeout=30)

        contact = self.contact(resident)
        assert self.attempts(resident) == [("not_placed", "line process died; called again")]
        assert (contact.state, contact.tries) == ("pending", 0)  # no try spent
        assert self.machine.lines.restarts >= 1

        # A minute later (the phone has noticed by then that the dead line went silent:
        # its RTP timeout is 3 s), the call is made again, under the same attempt key.
        time.sleep(4)
        clock.set(clock.now() + timedelta(minutes=1))
        self.rig.phones["13800000104"].keys = NO_FEVER
        self.run_machine()
        assert self.contact(resident).state == ContactState.ANSWERED, self.attempts(resident)

    def test_a_spoken_answer_without_a_recogniser_is_recorded_for_a_worker_to_check(
            self) -> None:
        [resident] = self.residents_with(["13800000105"])
        greeting = f"{self.secretary.area.name}：{PURPOSE}"
        start = (sound_of(greeting, Purpose.GREETING, self.machine)
                 + sound_of(SPEC["questions"][0]["voice"], Purpose.QUESTION, self.machine))
        voice = speech_wav(self.folder, "mei you fa shao", start + 0.8)
        self.rig.phone("13800000105", voice=voice)
        self.open_round()

        self.run_machine()

        contact = self.contact(resident)
        assert contact.state == ContactState.PENDING  # not understood: asked again later
        [recording] = CallRecording.objects.filter(contact=contact)
        assert recording.needs_check and recording.question_key == "fever"
        assert recording.heard == ""
        assert b"RIFF" not in bytes(recording.audio_sealed)  # sealed at rest
        with wave.open(BytesIO(recording_audio(recording)), "rb") as sound:
            assert sound.getframerate() == 8000
            assert 0.8 < sound.getnframes() / 8000 < 6
        assert "unclear: fever" in self.attempts(resident)[0][1]

    def test_a_trunk_that_goes_down_pauses_the_calls_without_spending_tries(self) -> None:
        residents = self.residents_with(["13800000106", "13800000107", "13800000108",
                                         "13800000109"])
        self.open_round()
        self.rig.stop_carrier()
        try:
            self.run_machine(seconds=90)
        finally:
            self.rig.start_carrier()
        # Those called before the trunk was found down, and the probe, were not placed;
        # the others were not called.
        outcomes = [self.attempts(r) for r in residents]
        assert all(not attempts or attempts[-1][0] == "not_placed" for attempts in outcomes), \
            outcomes
        assert sum(1 for attempts in outcomes if attempts) >= 3
        assert all(self.contact(r).tries == 0 for r in residents)
        assert not self.machine.lines.trunk_up
        self.machine.heartbeat(force=True)
        row = LineMachine.objects.get(name="test-lines")
        assert not row.trunk_up and row.trunk_down_since is not None

        # The carrier is back: the probe finds it up and the calls go out.
        for number in ("13800000106", "13800000107", "13800000108", "13800000109"):
            self.rig.phone(number, keys=NO_FEVER)
        clock.set(clock.now() + timedelta(minutes=1))
        time.sleep(0.6)  # the probe interval
        self.run_machine()
        assert self.machine.lines.trunk_up
        assert all(self.contact(r).state == ContactState.ANSWERED for r in residents)

    def test_a_number_called_too_often_today_falls_back_to_the_next_channel(self) -> None:
        [resident] = self.residents_with(["13800000110"])
        from django.test import override_settings

        from fangkong.followup.channels.voice.sip.transport import number_dialled

        for _ in range(3):
            number_dialled("13800000110")
        self.open_round()
        with override_settings(VOICE_CALLS_PER_NUMBER=3):
            self.run_machine()
        assert self.attempts(resident) == [("capped", "number called too often in 24 h")]
        contact = self.contact(resident)
        assert (contact.step, contact.due_at) == (1, None)  # on the door-visit list

    def test_a_spoken_answer_is_understood_through_the_configured_recogniser(self) -> None:
        from django.test import override_settings

        from fangkong.followup.channels.voice import asr

        [resident] = self.residents_with(["13800000111"])
        greeting = f"{self.secretary.area.name}：{PURPOSE}"
        start = (sound_of(greeting, Purpose.GREETING, self.machine)
                 + sound_of(SPEC["questions"][0]["voice"], Purpose.QUESTION, self.machine))
        voice = speech_wav(self.folder, "mei you fa shao", start + 0.8)
        self.rig.phone("13800000111", voice=voice)
        self.open_round()
        asr._load.cache_clear()
        self.addCleanup(asr._load.cache_clear)
        with override_settings(VOICE_ASR="tests.sip.fake_asr:Recogniser",
                               VOICE_ASR_MODEL=str(self.folder)):
            self.machine.transport.recogniser = asr.configured()
            try:
                self.run_machine()
            finally:
                self.machine.transport.recogniser = None

        contact = self.contact(resident)
        assert contact.state == ContactState.ANSWERED, (
            self.attempts(resident), list(CallRecording.objects.filter(contact=contact)
                                          .values_list("heard", "seconds")))
        assert contact.answers["fever"][0] is False
        [recording] = CallRecording.objects.filter(contact=contact)
        assert (recording.heard, recording.needs_check) == ("没有", False)

    def test_an_answering_machine_and_a_silent_line_count_as_not_reached(self) -> None:
        machine, silent = self.residents_with(["13800000112", "13800000113"])
        greeting_of_a_machine = speech_wav(
            self.folder, "nin hao, nin bo da de yong hu zan shi wu fa jie tong, "
            "qing zai ti shi yin hou liu yan, xie xie", 0.1)
        self.rig.phone("13800000112", voice=greeting_of_a_machine)
        self.rig.phone("13800000113")  # picks up and says nothing
        self.open_round()

        self.run_machine(seconds=90)

        assert self.attempts(machine) == [("no_answer", "answering machine")]
        assert self.attempts(silent) == [("no_answer", "silence after pick-up")]
        assert self.contact(machine).due_at == clock.now() + timedelta(minutes=2)
        assert not CallRecording.objects.filter(contact__in=[self.contact(machine),
                                                             self.contact(silent)]).exists()

    def test_the_communitys_own_recording_is_played_instead_of_the_synthesised_voice(
            self) -> None:
        from fangkong.followup.voice_prompts import campaign_sentences, voice_prompt_save

        [resident] = self.residents_with(["13800000114"])
        # Keys after the greeting has played out (no barge-in), recording what it hears.
        phone = self.rig.phone("13800000114", keys=[(2.5, "2")], record=True)
        round_ = self.open_round()
        greeting = campaign_sentences(round_.campaign)[0]
        voice_prompt_save(by=self.secretary, campaign=round_.campaign, key=greeting.key,
                          upload=tone_wav(1000, 1.5))

        self.run_machine()

        assert self.contact(resident).state == ContactState.ANSWERED
        [heard] = sorted(phone.engine.recordings.glob("dump-*-dec.wav"))
        with wave.open(str(heard), "rb") as sound:
            samples = array("h", sound.readframes(sound.getnframes()))
        start = next(i for i, s in enumerate(samples) if abs(s) > 2000)
        window = samples[start + 400:start + 400 + 8000]  # a second of the greeting
        crossings = sum(1 for a, b in zip(window, window[1:], strict=False) if (a < 0) != (b < 0))
        assert 1900 <= crossings <= 2100  # the 1 kHz tone uploaded, not espeak's voice

    def test_lines_that_register_wait_for_it_and_a_refused_registration_is_a_trunk_down(
            self) -> None:
        from fangkong.followup.channels.voice.sip.lines import Lines

        silence = self.machine.prompts.silence()
        good = Lines(SipConfig(trunk=self.rig.trunk, user="02199999", lines=2, register=True,
                               port_base=22100, folder=self.folder / "reg"),
                     silence=silence, name="reg")
        good.start()
        try:
            assert good.line(0).registered() and good.line(1).registered()
            assert good.trunk_up
        finally:
            good.stop()
        # Nobody answers on this port: the registration never succeeds.
        bad = Lines(SipConfig(trunk="127.0.0.1:25999", user="02199999", lines=1,
                              register=True, register_seconds=2, port_base=22200,
                              folder=self.folder / "bad"), silence=silence, name="bad")
        bad.start()
        try:
            assert not bad.trunk_up
            assert "registration" in bad.trunk_detail
        finally:
            bad.stop()
