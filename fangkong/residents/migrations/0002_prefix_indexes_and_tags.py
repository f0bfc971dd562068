"""PostgreSQL indexes for prefix search (LIKE 'x%' needs pattern ops under a non-C
collation; SQLite uses the ordinary indexes with case_sensitive_like), and the tags
every community starts with (editable afterwards)."""

from django.db import migrations

from fangkong.lib.migrations import VendorSQL

TAGS = [
    # slug, name, English name, needs extra care
    ("elderly_alone", "独居老人", "Elderly living alone", True),
    ("elderly", "高龄老人", "Very old (80+)", True),
    ("disabled", "残疾人", "Disabled", True),
    ("chronic", "慢性病", "Chronic illness", True),
    ("pregnant", "孕产妇", "Pregnant or recently delivered", True),
    ("child", "婴幼儿", "Young child", False),
    ("returnee", "返乡人员", "Returnee", False),
    ("low_income", "低保户", "Low-income household", True),
    ("bedridden", "卧床", "Bedridden", True),
    ("no_smartphone", "无智能手机", "No smartphone", False),
]


def add_tags(apps, schema_editor):
    Tag = apps.get_model("residents", "Tag")
    for order, (slug, name, name_en, vulnerable) in enumerate(TAGS):
        Tag.objects.get_or_create(slug=slug, defaults={
            "name": name, "name_en": name_en, "vulnerable": vulnerable, "sort_order": order})


class Migration(migrations.Migration):
    dependencies = [("residents", "0001_initial"), ("places", "0001_initial")]
    operations = [
        VendorSQL("postgresql", [
            "CREATE INDEX resident_name_prefix ON residents_resident "
            "(name varchar_pattern_ops)",
            "CREATE INDEX resident_initials_prefix ON residents_resident "
            "(name_initials varchar_pattern_ops)",
            "CREATE INDEX resident_pinyin_prefix ON residents_resident "
            "(name_pinyin varchar_pattern_ops)",
            "CREATE INDEX area_path_prefix ON places_area (path varchar_pattern_ops)",
            "CREATE INDEX household_label_prefix ON places_household (label varchar_pattern_ops)",
        ], [
            "DROP INDEX resident_name_prefix", "DROP INDEX resident_initials_prefix",
            "DROP INDEX resident_pinyin_prefix",
            "DROP INDEX area_path_prefix", "DROP INDEX household_label_prefix",
        ]),
        migrations.RunPython(add_tags, migrations.RunPython.noop),
    ]
