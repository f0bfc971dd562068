from django.db import migrations


def install(apps, schema_editor):  # noqa: ANN001, ANN201
    from fangkong.followup.shipped import questionnaires_install

    questionnaires_install(apps.get_model("followup", "Questionnaire"),
                           apps.get_model("followup", "QuestionnaireVersion"))


class Migration(migrations.Migration):
    dependencies = [("followup", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
