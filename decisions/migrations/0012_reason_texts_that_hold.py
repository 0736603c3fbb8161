"""Reason texts that are true whenever the reason is given (docs/architecture.md, "Reasons").

A scorecard reason is given when its signals lost enough points against their best
bins, or when its rule fired: "you have used almost all of your limit" was wrong for
a utilization of 35 %. The texts now say what lowered the assessment; the page and
the notice add the account's own figures beside them.
"""

from django.db import migrations

# code, staff en, staff zh, customer en, customer zh, suggestion en, suggestion zh
TEXTS = [
    (
        "SCORE_LOW",
        "The credit bureau score lowered the Limit Desk score.",
        "征信评分拉低了额度评分。",
        "Your credit bureau score lowered our assessment of your account.",
        "您的征信评分拉低了我们对您账户的评估。",
        "Repay on time everywhere; the bureau score recovers over a few months.",
        "在各机构按时还款，征信评分会在几个月内逐步恢复。",
    ),
    (
        "OVERDUE_HISTORY",
        "Late repayments in the last 12 months lowered the score.",
        "近 12 个月的逾期还款拉低了评分。",
        "Late repayments in the past year lowered our assessment.",
        "过去一年的延迟还款拉低了我们的评估。",
        "Set up automatic repayment; a year of on-time repayments restores this factor.",
        "开通自动还款；连续一年按时还款可消除该因素的影响。",
    ),
    (
        "MULTI_LENDING",
        "Applications at other lenders or debt elsewhere lowered the score, or set off the "
        "multi-lending cut.",
        "在其他机构的借款申请或外部负债拉低了评分，或触发了多头借贷降额。",
        "Recent applications for credit at other lenders, or your debts elsewhere, lowered "
        "our assessment.",
        "您近期在其他机构的借款申请或外部负债拉低了我们的评估。",
        "Avoid applying at several lenders at once, even just to compare rates; applications "
        "count for about three months.",
        "避免同时向多家机构申请，即使只是比较利率；申请记录约三个月内会产生影响。",
    ),
    (
        "HIGH_UTILIZATION",
        "How much of the limit is used lowered the score, or set off the utilization cut.",
        "额度使用率拉低了评分，或触发了高使用率降额。",
        "How much of your limit you use lowered our assessment.",
        "您的额度使用比例拉低了我们的评估。",
        "Keep your balance low compared with your limit; the figures show which level scores best.",
        "保持欠款相对额度较低；上面的数字说明了哪个区间评分最好。",
    ),
    (
        "LOW_ACTIVITY",
        "Account activity or the length of its history lowered the score.",
        "账户活跃度或使用时长拉低了评分。",
        "How much, and for how long, you have used the account lowered our assessment.",
        "您使用账户的频率和时长拉低了我们的评估。",
        "Regular everyday use with on-time repayment builds your limit over time.",
        "日常正常使用并按时还款，额度会随时间逐步提升。",
    ),
    (
        "INSTABILITY",
        "Changes of phone number, device or address lowered the score.",
        "手机号、设备或地址的变更拉低了评分。",
        "Recent changes of your phone number, device or address lowered our assessment.",
        "您近期更换手机号、设备或地址拉低了我们的评估。",
        "Keep your contact details and device stable; verify any change in the app.",
        "保持联系方式和设备稳定；如有变更请在应用内完成验证。",
    ),
    (
        "LINKED_RISK",
        "Linked accounts in bad standing lowered the score, or set off the linked-risk cut.",
        "关联账户的不良记录拉低了评分，或触发了关联风险降额。",
        "Accounts linked to yours that are in arrears lowered our assessment.",
        "与您关联的账户存在欠款，拉低了我们的评估。",
        "If the link is wrong or has ended, tell us through the help centre with proof.",
        "如关联关系有误或已解除，请通过帮助中心提交证明。",
    ),
    (
        "BAND_CEILING",
        "The limit was above the ceiling of the account's score band: the ceiling sets it.",
        "额度高于该账户评分分段的上限：按上限调整。",
        "Your limit was above the most our policy allows for your current score band, so it "
        "was lowered to that amount.",
        "您的额度高于当前评分分段允许的最高额度，因此已调整至该额度。",
        "The other reasons show what to improve to reach a higher band.",
        "请参考其他原因进行改善，以进入更高的评分分段。",
    ),
]

FIELDS = (
    "staff_text_en",
    "staff_text_zh",
    "customer_text_en",
    "customer_text_zh",
    "suggestion_en",
    "suggestion_zh",
)


def forward(apps, schema_editor):
    ReasonCode = apps.get_model("decisions", "ReasonCode")
    for code, *texts in TEXTS:
        ReasonCode.objects.filter(code=code).update(**dict(zip(FIELDS, texts, strict=True)))


class Migration(migrations.Migration):
    dependencies = [("decisions", "0011_run_failures")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
