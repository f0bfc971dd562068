"""The page of what residents hear on a campaign's robot calls, where the community
uploads its own recordings of the sentences (voice_prompts.py holds the gate and the
services)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.followup import voice_prompts
from fangkong.followup.models import VoicePrompt
from fangkong.followup.voice_prompts import PromptUploadError, Sentence
from fangkong.followup.voice_views import audio_response


@dataclass(frozen=True)
class SentenceRow:
    """A sentence as the page shows it: the recording played for it (None: the robot's
    own voice), whether it is the campaign area's own (else an area above's), the error
    of an upload just refused."""

    sentence: Sentence
    prompt: VoicePrompt | None
    own: bool
    error: str = ""


@login_required
@require_http_methods(["GET", "POST"])
def campaign_voice(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """What residents hear on the campaign's calls, in order, with a recording or the
    synthesised voice for each sentence. POST `do=upload` (`key`, file `audio`) records a
    sentence, `do=delete` (`key`) removes the area's recording; both come back here."""
    campaign = voice_prompts.campaign_for_voice(request.user, campaign_id)
    sentences = voice_prompts.campaign_sentences(campaign)
    keys = {s.key for s in sentences}
    errors: dict[str, str] = {}
    if request.method == "POST":
        key, do = request.POST.get("key", ""), request.POST.get("do", "")
        back = reverse("followup:campaign_voice", args=[campaign.pk])
        if key in keys:
            back += f"#s-{key}"
        try:
            if do == "delete":
                if voice_prompts.voice_prompt_delete(by=request.user, campaign=campaign,
                                                     key=key):
                    messages.success(request, _("Recording removed: the robot says this "
                                                "sentence in its own voice again."))
                return redirect(back)
            if do != "upload":
                return redirect(back)
            upload = request.FILES.get("audio")
            if upload is None:
                raise PromptUploadError(_("Choose the recording (a WAV file) first, then "
                                          "tap Upload."))
            voice_prompts.voice_prompt_save(by=request.user, campaign=campaign, key=key,
                                            upload=upload)
            messages.success(request, _("Recording saved: from the next call on, residents "
                                        "hear it instead of the robot's voice."))
            return redirect(back)
        except PromptUploadError as exc:
            if key in keys:
                errors[key] = str(exc)
            else:
                messages.error(request, str(exc))
    prompts = voice_prompts.voice_prompts_for(campaign.area, audio=False)
    rows = [SentenceRow(s, prompts.get(s.key),
                        s.key in prompts and prompts[s.key].area_id == campaign.area_id,
                        errors.get(s.key, "")) for s in sentences]
    return render(request, "followup/campaign_voice.html", {
        "campaign": campaign, "rows": rows,
        "recorded": sum(1 for r in rows if r.prompt is not None)})


@login_required
@require_GET
def campaign_voice_audio(request: HttpRequest, campaign_id: int, key: str) -> HttpResponse:
    """The recording the campaign's calls play for the sentence `key` (its area's own or an
    area above's), for the page's player."""
    campaign = voice_prompts.campaign_for_voice(request.user, campaign_id)
    prompt = voice_prompts.voice_prompts_for(campaign.area, keys=[key]).get(key)
    if prompt is None:
        raise Http404
    return audio_response(request, bytes(prompt.audio), filename=f"{key}.wav")
