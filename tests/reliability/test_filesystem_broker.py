"""The embedded default broker under a producer racing a polling consumer: every message arrives whole."""

import threading

import pytest
from kombu import Connection
from kombu.transport.virtual import Empty

from config.broker import Transport

MESSAGES = 400
PAYLOAD = {"body": "x" * 200_000}  # large enough that writing a file takes a while


def channel(folder, transport=Transport):
    for sub in ("out", "staging"):
        (folder / sub).mkdir(exist_ok=True)
    conn = Connection(
        transport=transport,
        transport_options={
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "staging_folder": str(folder / "staging"),
            "store_processed": False,
        },
    )
    return conn, conn.channel()


def test_a_polling_consumer_never_reads_a_half_written_message(tmp_path):
    producer_conn, producer = channel(tmp_path)
    consumer_conn, consumer = channel(tmp_path)
    received, errors = [], []

    def produce():
        for i in range(MESSAGES):
            producer._put("celery", {**PAYLOAD, "n": i})

    thread = threading.Thread(target=produce)
    thread.start()
    while len(received) < MESSAGES:
        producer_done = not thread.is_alive()  # read before polling: a message put after an Empty is not lost
        try:
            message = consumer._get("celery")
        except Empty:
            if producer_done:
                break
            continue
        except ValueError as exc:  # what stock kombu raises on a half-written file
            errors.append(exc)
            continue
        received.append(message["n"])
    thread.join()
    producer_conn.release()
    consumer_conn.release()
    assert errors == []
    assert sorted(received) == list(range(MESSAGES))


@pytest.mark.parametrize("content", [b"", b"{not json"])
def test_an_unreadable_file_in_the_queue_is_skipped_not_fatal(tmp_path, content):
    conn, ch = channel(tmp_path)
    (tmp_path / "out" / "0_stray.celery.msg").write_bytes(content)
    ch._put("celery", {"n": 1})
    with pytest.raises(Empty):
        ch._get("celery")
    assert ch._get("celery") == {"n": 1}
    conn.release()
