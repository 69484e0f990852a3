import json

import pytest

from plexus.aws_lambda.events import (
    MAX_BODY_BYTES,
    Drain,
    EventError,
    FanOut,
    PollQueue,
    SingleJob,
    SqsBatch,
    job_id_from_sqs_body,
    parse_event,
)

SCHEDULE = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def sqs(*bodies):
    return {
        "Records": [
            {"messageId": f"m{i}", "eventSource": "aws:sqs", "body": b}
            for i, b in enumerate(bodies)
        ]
    }


def test_event_kinds():
    assert parse_event({}) == Drain()
    assert parse_event(None) == Drain()
    assert parse_event(SCHEDULE) == Drain()
    assert parse_event({"scoringJobId": " job-1 "}) == SingleJob("job-1")
    batch = parse_event(sqs('{"scoring_job_id": "a"}'))
    assert isinstance(batch, SqsBatch)
    assert len(batch.records) == 1


def test_empty_event_polls_when_the_request_queue_is_set():
    url = "https://sqs.us-east-1.amazonaws.com/1/requests"
    assert parse_event({}, request_queue_url=url) == PollQueue(url)
    assert parse_event(None, request_queue_url=url) == PollQueue(url)
    # A schedule still drains the account.
    assert parse_event(SCHEDULE, request_queue_url=url) == Drain()


def test_fan_out_event_as_the_real_fan_out_function_sends_it():
    event = {
        "source": "fanout",
        "message_body": {"scoring_job_id": "j1"},
        "receipt_handle": "rh",
        "queue_url": "https://q",
    }
    assert parse_event(event) == FanOut("j1", "rh", "https://q")
    as_text = {**event, "message_body": '{"scoring_job_id": "j2"}'}
    assert parse_event(as_text) == FanOut("j2", "rh", "https://q")
    with pytest.raises(EventError, match="fan-out event lacks receipt_handle"):
        parse_event({**event, "receipt_handle": ""})
    with pytest.raises(EventError, match="no scoring_job_id"):
        parse_event({**event, "message_body": {"other": 1}})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "JSON object"),
        ({"scoringJobId": 7}, "scoringJobId must be a string"),
        ({"scoringJobId": ""}, "non-empty"),
        ({"hello": 1}, "unrecognised event with keys \\[hello\\]"),
        ({"Records": [{"eventSource": "aws:s3"}]}, "SQS records"),
    ],
)
def test_bad_events_say_what_is_wrong(event, message):
    with pytest.raises(EventError, match=message):
        parse_event(event)


def test_sqs_body_variants():
    assert job_id_from_sqs_body(json.dumps({"scoring_job_id": "j1"})) == "j1"
    assert job_id_from_sqs_body(json.dumps({"scoringJobId": "j2"})) == "j2"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object, got list"),
        ('{"other": 1}', "no scoring_job_id"),
        ('{"scoring_job_id": 12}', "must be a string, got int"),
        ('{"scoring_job_id": null}', "must be a string, got NoneType"),
        (None, "body must be a string"),
        ("x" * (MAX_BODY_BYTES + 1), "larger than"),
    ],
)
def test_bad_sqs_bodies_say_what_is_wrong(body, message):
    with pytest.raises(EventError, match=message):
        job_id_from_sqs_body(body)
