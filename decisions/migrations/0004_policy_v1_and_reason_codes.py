"""The first active policy version and the reason-code catalogue (zh-Hans and en).

Frozen copies, as a migration must hold; later changes come as new versions
(policy) or new migrations (catalogue).
"""

from django.db import migrations

POLICY_V1 = {
    "bands": [
        {"name": "A", "min_score": 750, "ceiling": "120000"},
        {"name": "B", "min_score": 700, "ceiling": "40000"},
        {"name": "C", "min_score": 650, "ceiling": "20000"},
        {"name": "D", "min_score": 600, "ceiling": "9000"},
        {"name": "E", "min_score": 350, "ceiling": "3000"},
    ],
    "close_dpd": 90,
    "close_on_public_record": True,
    "min_age": 18,
    "overdue_reduce_pct": "20",
    "multi_lending_applications_30d": 10,
    "multi_lending_reduce_pct": "30",
    "utilization_threshold": "0.9",
    "utilization_months": 6,
    "utilization_reduce_pct": "15",
    "linked_risk_threshold": "0.3",
    "linked_risk_reduce_pct": "20",
    "hysteresis_pct": "5",
    "raise_cap_pct": "10",
    "raise_good_cycles": 3,
    "reopen_limit": "500",
    "cooldown_days": 90,
    "overlay_factor": "1",
    "overlay_rationale": "No portfolio-wide adjustment.",
    "breaker_max_accounts_cut_pct": "10",
    "breaker_max_exposure_cut_pct": "5",
    "rounding": "100",
}

# code, kind, staff en, staff zh, customer en, customer zh, suggestion en, suggestion zh
REASONS = [
    (
        "SCORE_LOW",
        "adverse",
        "Credit score is low for the current limit.",
        "信用评分相对当前额度偏低。",
        "Your credit score has fallen below the level your limit needs.",
        "您的信用评分低于维持当前额度所需的水平。",
        "Repay on time and keep your information up to date; the score recovers over a few months.",
        "按时还款并及时更新个人信息，评分会在几个月内逐步恢复。",
    ),
    (
        "OVERDUE_NOW",
        "adverse",
        "The account is past due now.",
        "账户当前存在逾期。",
        "A repayment on your account is overdue.",
        "您的账户目前有一笔还款已逾期。",
        "Repay the overdue amount as soon as possible; the limit is reviewed again after repayment.",
        "请尽快还清逾期款项，还款后额度将重新评估。",
    ),
    (
        "SERIOUS_OVERDUE",
        "adverse",
        "Serious overdue: days past due reached the closing threshold.",
        "严重逾期：逾期天数达到关闭额度的阈值。",
        "Your repayment has been overdue for a long time, so the line was closed.",
        "您的还款逾期时间较长，因此额度已关闭。",
        "Repay in full. The line can be reviewed again after the cool-down period.",
        "请全额还款。冷静期结束后可重新评估额度。",
    ),
    (
        "OVERDUE_HISTORY",
        "adverse",
        "Overdue episodes or a low on-time ratio in the last 12 months.",
        "近 12 个月有逾期记录或按时还款率偏低。",
        "There were late repayments on your account in the past year.",
        "过去一年您的账户有过延迟还款。",
        "Set up automatic repayment; a year of on-time repayments restores this factor.",
        "开通自动还款；连续一年按时还款可消除该因素的影响。",
    ),
    (
        "MULTI_LENDING",
        "adverse",
        "Many credit applications at other lenders recently, or high external debt.",
        "近期在其他机构申请借贷次数多，或外部负债偏高。",
        "You applied for credit at many other lenders recently; this reads as financial stress.",
        "您近期在多家其他机构申请过借款，这会被视为资金压力较大。",
        "Avoid applying at several lenders at once, even just to compare rates; it counts against you for about three months.",
        "避免同时向多家机构申请，即使只是比较利率；此类记录约三个月内会产生影响。",
    ),
    (
        "HIGH_UTILIZATION",
        "adverse",
        "Utilization at or near the full limit for months.",
        "连续数月额度使用率接近或达到上限。",
        "You have used almost all of your limit for several months.",
        "您已连续数月几乎用满额度。",
        "Keep your balance below 70% of the limit for a few months.",
        "连续几个月将欠款保持在额度的 70% 以下。",
    ),
    (
        "LOW_ACTIVITY",
        "adverse",
        "Little use of the account, or a short history.",
        "账户使用较少或使用时间较短。",
        "Your account has been used little, or only for a short time.",
        "您的账户使用较少或开通时间较短。",
        "Regular everyday use with on-time repayment builds your limit over time.",
        "日常正常使用并按时还款，额度会随时间逐步提升。",
    ),
    (
        "INSTABILITY",
        "adverse",
        "Frequent changes of phone number, device or address.",
        "频繁更换手机号、设备或地址。",
        "Your phone number, device or address changed several times recently.",
        "您近期多次更换手机号、设备或地址。",
        "Keep your contact details and device stable; verify any change in the app.",
        "保持联系方式和设备稳定；如有变更请在应用内完成验证。",
    ),
    (
        "LINKED_RISK",
        "adverse",
        "A share of linked accounts is in bad standing.",
        "关联账户中有一定比例存在不良记录。",
        "An account linked to yours is in arrears.",
        "与您关联的账户存在欠款未还的情况。",
        "If the link is wrong or has ended, tell us through the help centre with proof.",
        "如关联关系有误或已解除，请通过帮助中心提交证明。",
    ),
    (
        "PUBLIC_RECORD",
        "adverse",
        "A court judgment or dishonest-debtor entry is on record.",
        "存在法院判决或失信被执行人记录。",
        "A court judgment or enforcement record in your name was reported.",
        "系统收到了您名下的法院判决或失信执行记录。",
        "Once the matter is settled and the record removed, send the proof to have the line reviewed.",
        "事项了结并撤销记录后，请提交证明以重新评估额度。",
    ),
    (
        "INELIGIBLE",
        "adverse",
        "Eligibility missing: age under 18, no real-name verification or no bound bank card.",
        "不满足准入条件：未满 18 岁、未实名认证或未绑定银行卡。",
        "The line needs a verified identity, an age of 18 or more, and a bound bank card.",
        "开通额度需要完成实名认证、年满 18 周岁并绑定银行卡。",
        "Complete real-name verification and bind a bank card in the app.",
        "请在应用内完成实名认证并绑定银行卡。",
    ),
    (
        "COOLDOWN",
        "adverse",
        "The line is in its cool-down period after a closure.",
        "额度关闭后处于冷静期内。",
        "Your line was closed recently and cannot be reopened before the cool-down period ends.",
        "您的额度近期已关闭，冷静期结束前无法重新开通。",
        "Keep repaying on time; the line is reviewed automatically after the cool-down.",
        "请保持按时还款；冷静期结束后系统会自动重新评估。",
    ),
    (
        "PORTFOLIO_OVERLAY",
        "adverse",
        "Portfolio-wide adjustment (overlay factor) of the policy.",
        "策略的整体组合调整（调整系数）。",
        "Limits were adjusted for many customers because of market or regulatory conditions.",
        "由于市场或监管环境变化，许多客户的额度都进行了调整。",
        "This is not about your account; limits are reviewed again when conditions change.",
        "此调整并非针对您的账户；环境变化后额度会重新评估。",
    ),
    (
        "BAND_CEILING",
        "adverse",
        "The limit is above the ceiling of the account's score band.",
        "额度高于该账户评分分段的上限。",
        "Your limit was brought in line with the limit your current credit profile supports.",
        "您的额度已调整至与当前信用状况相符的水平。",
        "The reasons listed before this one show what to improve to move to a higher band.",
        "请参考前面列出的原因进行改善，以进入更高的评分分段。",
    ),
    (
        "CAPACITY",
        "favourable",
        "Verified income, provident fund or assets.",
        "已核实的收入、公积金或资产。",
        "Verified income or assets support your limit.",
        "已核实的收入或资产为您的额度提供了支持。",
        "Adding proof of salary, provident fund or assets can raise your limit.",
        "补充工资流水、公积金或资产证明可提升额度。",
    ),
    (
        "GOOD_HISTORY",
        "favourable",
        "Consecutive good cycles: raised within the per-cycle cap.",
        "连续多个周期表现良好：在单周期上限内提额。",
        "Thanks to your steady, on-time use, your limit was raised.",
        "由于您持续按时还款、正常使用，额度已提升。",
        "Keep it up: the limit can grow step by step.",
        "请继续保持，额度可逐步提升。",
    ),
    (
        "REOPENED",
        "favourable",
        "Reopened after the cool-down with enough good cycles.",
        "冷静期结束且表现良好，额度重新开通。",
        "Your line has been reopened.",
        "您的额度已重新开通。",
        "Use it steadily and repay on time to grow it again.",
        "正常使用并按时还款，额度会逐步恢复。",
    ),
    (
        "MANUAL_OVERRIDE",
        "human",
        "Set by hand by risk staff; see the justification.",
        "风控人员人工调整，详见理由。",
        "Our risk team reviewed your account and set your limit.",
        "我们的风控团队复核了您的账户并调整了额度。",
        "",
        "",
    ),
    (
        "APPEAL_OUTCOME",
        "human",
        "Outcome of the customer's appeal.",
        "客户申诉的处理结果。",
        "This is the outcome of your appeal.",
        "这是您的申诉处理结果。",
        "",
        "",
    ),
    (
        "INCIDENT_REVERT",
        "human",
        "Reverts a faulty run; the previous limit is restored.",
        "撤销有误的评分批次，恢复此前额度。",
        "A system error changed your limit; it has been restored.",
        "系统错误曾改变您的额度，现已恢复。",
        "",
        "",
    ),
    (
        "FROZEN",
        "human",
        "Frozen by staff; see the justification.",
        "工作人员已冻结额度，详见理由。",
        "Your line is temporarily frozen while we review your account.",
        "我们正在复核您的账户，额度暂时冻结。",
        "Contact the help centre if you have questions.",
        "如有疑问请联系帮助中心。",
    ),
    (
        "UNFROZEN",
        "human",
        "Unfrozen by staff.",
        "工作人员已解除冻结。",
        "Your line is available again.",
        "您的额度已恢复可用。",
        "",
        "",
    ),
]


def forward(apps, schema_editor):
    Policy = apps.get_model("decisions", "Policy")
    ReasonCode = apps.get_model("decisions", "ReasonCode")
    Policy.objects.get_or_create(
        version=1,
        defaults={
            "state": "active",
            "rules": POLICY_V1,
            "rationale": "First policy version of Limit Desk.",
        },
    )
    for code, kind, staff_en, staff_zh, customer_en, customer_zh, tip_en, tip_zh in REASONS:
        ReasonCode.objects.update_or_create(
            code=code,
            defaults={
                "kind": kind,
                "staff_text_en": staff_en,
                "staff_text_zh": staff_zh,
                "customer_text_en": customer_en,
                "customer_text_zh": customer_zh,
                "suggestion_en": tip_en,
                "suggestion_zh": tip_zh,
            },
        )


def backward(apps, schema_editor):
    apps.get_model("decisions", "ReasonCode").objects.all().delete()
    apps.get_model("decisions", "Policy").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("decisions", "0003_append_only_decisions")]

    operations = [migrations.RunPython(forward, backward)]
