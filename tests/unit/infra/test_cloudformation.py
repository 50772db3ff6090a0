"""The AWS side: infra/aws/queues.yaml passes cfn-lint (every rule, warnings included), its
queues are the ones the settings name with the attributes `make provision-queues` gives, each
queue has its alarms, and each process's IAM role allows exactly what that process calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from shared.config import Settings
from shared.messaging.sqs import MAX_RECEIVE_COUNT, RETENTION_SECONDS, VISIBILITY_TIMEOUT
from tools.services import ROOT

TEMPLATE = ROOT / "infra" / "aws" / "queues.yaml"
QUEUES = {"BookingRequests": "booking-requests", "BookingConfirmations": "booking-confirmations"}
CONSUMER_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}
# Process -> {queue resource: actions}: what each process's code calls, nothing more.
GRANTS = {
    "BookingApiRole": {
        "BookingRequests": {"sqs:SendMessage"},
        "BookingConfirmations": {"sqs:SendMessage"},
    },
    "RewardWorkerRole": {"BookingConfirmations": {"sqs:SendMessage"}},
    "ProviderConsumerRole": {
        "BookingRequests": CONSUMER_ACTIONS,
        "BookingRequestsDeadLetters": {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
    },
    "NotificationConsumerRole": {
        "BookingConfirmations": CONSUMER_ACTIONS,
        "BookingConfirmationsDeadLetters": {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
    },
}
SERVICE_ACCOUNTS = {
    "BookingApiRole": "booking-api",
    "RewardWorkerRole": "reward-worker",
    "ProviderConsumerRole": "provider-consumer",
    "NotificationConsumerRole": "notification-consumer",
}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    template = yaml.safe_load(TEMPLATE.read_text())
    return dict(template["Resources"])


def problems(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=["us-east-1"], include_checks=["I"]))
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    assert problems(TEMPLATE.read_text()) == []


def test_cfn_lint_catches_a_retention_aws_would_refuse() -> None:
    broken = TEMPLATE.read_text().replace(
        "MessageRetentionPeriod: 345600", "MessageRetentionPeriod: 9999999", 1
    )
    assert any("9999999" in problem for problem in problems(broken))


def test_the_queues_are_the_configured_ones_with_the_provisioned_attributes(
    resources: dict[str, Any],
) -> None:
    settings = Settings(_env_file=None, jwt_secret="s" * 40)
    configured = {
        url.rsplit("/", 1)[-1]
        for url in (
            settings.sqs_booking_request_queue_url,
            settings.sqs_booking_confirmation_queue_url,
        )
    }
    assert set(QUEUES.values()) == configured
    for resource, name in QUEUES.items():
        queue = resources[resource]["Properties"]
        dead_letters = resources[f"{resource}DeadLetters"]["Properties"]
        assert queue["QueueName"] == name and dead_letters["QueueName"] == f"{name}-dlq"
        assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT == 30
        assert queue["MessageRetentionPeriod"] == RETENTION_SECONDS == 4 * 24 * 3600
        assert dead_letters["MessageRetentionPeriod"] == RETENTION_SECONDS
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [f"{resource}DeadLetters", "Arn"]},
            "maxReceiveCount": MAX_RECEIVE_COUNT,
        }
        assert MAX_RECEIVE_COUNT == 5
        assert queue["SqsManagedSseEnabled"] and dead_letters["SqsManagedSseEnabled"]


def test_every_dead_letter_queue_alarms_when_not_empty_and_every_queue_on_age(
    resources: dict[str, Any],
) -> None:
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["MetricName"], a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]): a for a in alarms}
    for resource in QUEUES:
        not_empty = watched["ApproximateNumberOfMessagesVisible", f"{resource}DeadLetters"]
        assert (not_empty["ComparisonOperator"], not_empty["Threshold"]) == (
            "GreaterThanThreshold",
            0,
        )
        age = watched["ApproximateAgeOfOldestMessage", resource]
        assert age["Threshold"] == {"Ref": "OldestMessageAgeSeconds"}
    assert len(alarms) == 2 * len(QUEUES)


def test_each_process_role_grants_only_what_the_process_calls(
    resources: dict[str, Any],
) -> None:
    roles = {n: r for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert sorted(roles) == sorted(GRANTS)  # checkout_api calls no AWS service
    for name, role in roles.items():
        granted: dict[str, set[str]] = {}
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow" and "Condition" not in statement
                for target in statement["Resource"]:
                    queue = target["Fn::GetAtt"][0]  # never "*" nor a pattern
                    granted.setdefault(queue, set()).update(statement["Action"])
        assert granted == GRANTS[name], name
        assert trust_of(role) == {
            "Effect": "Allow",
            "Principal": {
                "Federated": "arn:aws:iam::210987654321:oidc-provider/"
                "oidc.eks.us-east-1.amazonaws.com/id/ABC"
            },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": (
                        f"system:serviceaccount:suite:{SERVICE_ACCOUNTS[name]}"
                    ),
                }
            },
        }


def trust_of(role: dict[str, Any]) -> dict[str, Any]:
    """The role's one trust statement, as AWS sees it with example parameters."""
    text = role["Properties"]["AssumeRolePolicyDocument"]["Fn::Sub"]
    for name, value in {
        "AWS::Partition": "aws",
        "AWS::AccountId": "210987654321",
        "OidcProvider": "oidc.eks.us-east-1.amazonaws.com/id/ABC",
        "Namespace": "suite",
    }.items():
        text = text.replace("${" + name + "}", value)
    (statement,) = json.loads(text)["Statement"]
    return dict(statement)
