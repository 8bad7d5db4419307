"""Helpers of the Kafka throughput benchmark (scripts/bench-kafka.sh).

    python bench/kafka_bench.py images DIR COUNT LARGE
        COUNT photograph-like JPEGs in DIR: 1024x768 (about 150 KB, sent inline) and, every
        LARGE-th one, 2400x1800 (above Kafka's 1 MB message limit: sent as a claim-check).
    python bench/kafka_bench.py consume BROKERS TOPIC COUNT
        Reads COUNT records from every partition's start with kafka-python, doing nothing
        with them; prints the seconds from the first records to the last.
    python bench/kafka_bench.py wait ADDR COUNT QUEUE_EMPTY
        Polls http://ADDR/healthz until the Kafka partitions' committed offsets add up to
        COUNT (and, when QUEUE_EMPTY is 1, the processing queue is empty); prints the time.
    python bench/kafka_bench.py put ADDR DIR REPEAT THREADS
        PUTs every file of DIR, REPEAT times, to http://ADDR/images from THREADS threads
        (one keep-alive connection each); prints the seconds, or fails unless all got 202.
"""

import http.client
import json
import os
import random
import sys
import threading
import time


def images(out, count, large):
    from PIL import Image, ImageDraw, ImageFilter

    os.makedirs(out, exist_ok=True)
    rnd = random.Random(7)
    for i in range(count):
        w, h = (2400, 1800) if large and i % large == large - 1 else (1024, 768)
        base = Image.linear_gradient("L").resize((w, h))
        img = Image.merge(
            "RGB",
            (base, base.rotate(90).resize((w, h)), Image.new("L", (w, h), rnd.randrange(256))),
        )
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x, y = rnd.randrange(w), rnd.randrange(h)
            r = rnd.randrange(20, w // 4)
            colour = tuple(rnd.randrange(256) for _ in range(3))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        noise = Image.effect_noise((w, h), 40).convert("RGB")
        img = Image.blend(img, noise, 0.25).filter(ImageFilter.SMOOTH)
        img.save(os.path.join(out, f"photo-{i:04d}.jpg"), quality=88)


def consume(brokers, topic, count):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=brokers.split(","),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=8 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    seen, start = 0, None
    deadline = time.monotonic() + 600
    while seen < count and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        if batch and start is None:
            start = time.monotonic()
        seen += sum(len(records) for records in batch.values())
    end = time.monotonic()
    if seen < count:
        sys.exit(f"read only {seen} of {count} records")
    print(f"{end - (start or end):.2f}")


def wait(addr, count, queue_empty):
    host, port = addr.rsplit(":", 1)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", "/healthz")
            health = json.loads(conn.getresponse().read())
            committed = sum((p.get("committed") or 0) for p in ((health.get("kafka") or {}).get("partitions") or {}).values())
            if committed >= count and (not queue_empty or health.get("queued") == 0):
                print(f"{time.time():.3f}")
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    sys.exit(f"{addr}: not {count} records committed within 30 minutes")


def put(addr, directory, repeat, threads):
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory))
    bodies = [open(f, "rb").read() for f in files]
    jobs = [b for _ in range(repeat) for b in bodies]
    lock = threading.Lock()
    refused = []
    host, port = addr.rsplit(":", 1)

    def worker(mine):
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        for body in mine:
            conn.request("PUT", "/images", body=body, headers={"Content-Type": "image/jpeg"})
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                with lock:
                    refused.append(response.status)

    start = time.monotonic()
    pool = [threading.Thread(target=worker, args=(jobs[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.monotonic() - start
    if refused:
        sys.exit(f"{len(refused)} of {len(jobs)} PUTs were not accepted: {sorted(set(refused))}")
    print(f"{seconds:.2f}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "images":
        images(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif command == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif command == "wait":
        wait(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    elif command == "put":
        put(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
