"""PostgreSQL indexes for prefix search and name order: on `(col COLLATE "C")`, which
serves both `col COLLATE "C" LIKE 'x%'` and `ORDER BY col COLLATE "C"` whatever the
database collation (see fangkong.lib.lookups; SQLite uses the ordinary indexes with GLOB),
and the tags every community starts with (editable afterwards)."""

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
    dependencies = [("residents", "0001_initial"), ("places", "0001_initial"),
                    ("audit", "0001_initial")]
    operations = [
        VendorSQL("postgresql", [
            'CREATE INDEX resident_name_c ON residents_resident ((name COLLATE "C"), id)',
            'CREATE INDEX resident_initials_c ON residents_resident '
            '((name_initials COLLATE "C"), id)',
            'CREATE INDEX resident_pinyin_c ON residents_resident '
            '((name_pinyin COLLATE "C"), id)',
            'CREATE INDEX area_path_c ON places_area ((path COLLATE "C"))',
            'CREATE INDEX household_label_c ON places_household ((label COLLATE "C"))',
            'CREATE INDEX audit_area_path_c ON audit_auditevent ((area_path COLLATE "C"))',
        ], [
            "DROP INDEX resident_name_c", "DROP INDEX resident_initials_c",
            "DROP INDEX resident_pinyin_c", "DROP INDEX area_path_c",
            "DROP INDEX household_label_c", "DROP INDEX audit_area_path_c",
        ]),
        migrations.RunPython(add_tags, migrations.RunPython.noop),
    ]
