from django.db import migrations

REASON = {
    "kind": "favourable",
    "staff_text_en": "Re-evaluated with verified income or assets from the customer's evidence.",
    "staff_text_zh": "依据客户提交并核实的收入或资产证明重新评估。",
    "customer_text_en": "We re-assessed your line with the proof of income or assets you sent.",
    "customer_text_zh": "我们根据您提交的收入或资产证明重新评估了您的额度。",
    "suggestion_en": "Keep your proof up to date; it counts in every later review.",
    "suggestion_zh": "请及时更新相关证明，之后的每次评估都会参考。",
}


def forward(apps, schema_editor):
    apps.get_model("decisions", "ReasonCode").objects.update_or_create(
        code="VERIFIED_CAPACITY", defaults=REASON
    )


def backward(apps, schema_editor):
    apps.get_model("decisions", "ReasonCode").objects.filter(code="VERIFIED_CAPACITY").delete()


class Migration(migrations.Migration):
    dependencies = [("decisions", "0006_run_reverting_state")]

    operations = [migrations.RunPython(forward, backward)]
