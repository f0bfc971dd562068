"""The questionnaires fangkong ships ready-made (Chinese data, as residents are asked).

Installed by a data migration and kept up to date by `questionnaires_install`: a changed
spec becomes a new version, so campaigns already running keep the version they started
with.
"""

from __future__ import annotations

from typing import Any

DAILY_HEALTH: dict[str, Any] = {
    "questions": [
        {"key": "fever", "kind": "yes_no", "label": "今天有没有发热（体温37.3°C及以上）？",
         "sms": "发热?(1有2没有)",
         "voice": "请问您今天有没有发烧？有请按1，没有请按2。"},
        {"key": "temperature", "kind": "temperature", "label": "体温（°C）",
         "sms": "体温", "voice": "请说出您刚量的体温，例如三十七度五；也可以按键输入，例如三七五。",
         "when": {"fever": True}},
        {"key": "cough", "kind": "yes_no", "label": "有没有咳嗽？", "sms": "咳嗽?(1有2没有)",
         "voice": "请问您有没有咳嗽？有请按1，没有请按2。"},
        {"key": "symptoms", "kind": "multi", "label": "有没有以下症状？（可多选，没有就不选）",
         "voice": "请问您有没有乏力、咽痛、嗅觉或味觉减退、腹泻？没有请说没有。",
         "options": [
             {"value": "fatigue", "label": "乏力"},
             {"value": "sore_throat", "label": "咽痛"},
             {"value": "taste_smell", "label": "嗅觉或味觉减退"},
             {"value": "diarrhoea", "label": "腹泻"}],
         "required": False},
    ],
    "rules": [
        {"key": "fever", "kind": "threshold", "question": "temperature", "op": ">=",
         "value": "37.3", "severity": "high", "title": "发热", "deadline_minutes": 120},
        {"key": "fever_reported", "kind": "yes", "question": "fever", "severity": "medium",
         "title": "自述发热", "deadline_minutes": 120},
        {"key": "symptoms", "kind": "any_of",
         "signs": ["cough", "symptoms:sore_throat", "symptoms:taste_smell"],
         "severity": "medium", "title": "有呼吸道等症状", "deadline_minutes": 240},
        {"key": "two_symptoms", "kind": "n_of",
         "signs": ["symptoms:fatigue", "symptoms:diarrhoea", "cough"], "n": 2,
         "severity": "medium", "title": "多项症状", "deadline_minutes": 240},
        {"key": "rising", "kind": "rising", "question": "temperature", "rounds": 3,
         "min_rise": "0.3", "severity": "medium", "title": "体温连续上升",
         "deadline_minutes": 240},
        {"key": "unreached", "kind": "unreached", "severity": "medium", "title": "未联系上",
         "deadline_minutes": 180},
    ],
}

TRAVEL_CONTACT: dict[str, Any] = {
    "questions": [
        {"key": "contact_case", "kind": "yes_no",
         "label": "近14天有没有接触过确诊或疑似病例？", "sms": "接触病例?(1有2没有)",
         "voice": "请问您最近十四天有没有接触过确诊或疑似病人？有请按1，没有请按2。"},
        {"key": "contact_fever", "kind": "yes_no",
         "label": "近14天有没有接触过发热或有呼吸道症状的人？", "sms": "接触发热者?(1有2没有)",
         "voice": "最近十四天有没有接触过发烧或者咳嗽的人？有请按1，没有请按2。"},
        {"key": "travel_risk", "kind": "yes_no",
         "label": "近14天有没有去过中高风险地区？", "sms": "去过风险地区?(1有2没有)",
         "voice": "最近十四天有没有去过中高风险地区？有请按1，没有请按2。"},
        {"key": "travel_where", "kind": "text", "label": "去过哪里？（城市、区县）",
         "when": {"travel_risk": True}, "max_length": 60},
    ],
    "rules": [
        {"key": "contact_case", "kind": "yes", "question": "contact_case", "severity": "high",
         "title": "接触过病例", "deadline_minutes": 120},
        {"key": "contact_fever", "kind": "yes", "question": "contact_fever",
         "severity": "medium", "title": "接触过发热者", "deadline_minutes": 240},
        {"key": "travel_risk", "kind": "yes", "question": "travel_risk", "severity": "medium",
         "title": "有风险地区旅居史", "deadline_minutes": 240},
        {"key": "unreached", "kind": "unreached", "severity": "low", "title": "未联系上",
         "deadline_minutes": 1440},
    ],
}

ELDERLY_WELLBEING: dict[str, Any] = {
    "questions": [
        {"key": "feeling", "kind": "single", "label": "您今天身体怎么样？",
         "sms": "身体(1好2不舒服)",
         "voice": "老人家您好，今天身体怎么样？好的请按1，不舒服请按2。",
         "options": [{"value": "well", "label": "挺好", "keypad": "1"},
                     {"value": "unwell", "label": "不舒服", "keypad": "2"}]},
        {"key": "needs_help", "kind": "yes_no", "label": "需要社区帮忙吗（买菜、就医、维修等）？",
         "sms": "要帮忙?(1要2不要)", "voice": "需要社区帮您买菜、看病或者修东西吗？需要请按1，不需要请按2。"},
        {"key": "medicine_low", "kind": "yes_no", "label": "常用药快吃完了吗？",
         "sms": "药快吃完?(1是2否)", "voice": "您平时吃的药，是不是快吃完了？是请按1，不是请按2。"},
    ],
    "rules": [
        {"key": "unwell", "kind": "choice", "question": "feeling", "values": ["unwell"],
         "severity": "high", "title": "老人身体不适", "deadline_minutes": 120},
        {"key": "needs_help", "kind": "yes", "question": "needs_help", "severity": "medium",
         "title": "需要帮助", "deadline_minutes": 240},
        {"key": "medicine_low", "kind": "yes", "question": "medicine_low",
         "severity": "medium", "title": "药品将尽", "deadline_minutes": 480},
        {"key": "unreached", "kind": "unreached", "severity": "high",
         "title": "独居老人未联系上", "deadline_minutes": 120},
    ],
}

SHIPPED: dict[str, tuple[str, str, dict[str, Any]]] = {
    "daily_health": ("每日健康监测", "发热、体温和主要症状，每天一到两次", DAILY_HEALTH),
    "travel_contact": ("14天旅居史和接触史", "接触病例、接触发热者、去过风险地区", TRAVEL_CONTACT),
    "elderly_wellbeing": ("独居老人每日关怀", "身体好不好、要不要帮忙、药够不够",
                          ELDERLY_WELLBEING),
}


def questionnaires_install(questionnaire_model, version_model) -> int:  # noqa: ANN001
    """Create or update the shipped questionnaires (models passed in, so a data migration
    can use its historical ones). Returns how many versions were added."""
    added = 0
    for slug, (name, description, spec) in SHIPPED.items():
        questionnaire, _ = questionnaire_model.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "area": None})
        latest = version_model.objects.filter(questionnaire=questionnaire).order_by(
            "-number").first()
        if latest is not None and latest.spec == spec:
            continue
        version_model.objects.create(questionnaire=questionnaire,
                                     number=(latest.number + 1) if latest else 1, spec=spec)
        added += 1
    return added
