"""Test setup against a moto server (AWS_ENDPOINT_URL): builds the AWS side of the exporter's
world and reads the table's stream as Lambda would receive it.

  moto_stream.py setup         lake bucket, metadata table (stream NEW_AND_OLD_IMAGES, TTL on
                               expires_at), Glue database + image_events table with dt/hour keys
  moto_stream.py changes       a few image lifecycles through PutItem / UpdateItem / DeleteItem
  moto_stream.py event         DescribeStream, GetShardIterator, GetRecords → a Lambda
                               DynamoDB event {"Records": [...]} on stdout
  moto_stream.py partitions    the Glue partitions of image_events as JSON
  moto_stream.py queue         the stream export's on-failure queue; its URL on stdout
  moto_stream.py fail A B [ARN]
                               what Lambda's event source mapping sends the on-failure queue
                               when the batch of the stream's records A..B (0-based, inclusive)
                               exhausts its retries: the documented DDBStreamBatchInfo record
                               (of stream ARN, when given, instead of the table's)
  moto_stream.py depth         messages in the on-failure queue, visible or in flight

Run by tests/lambda_stream.rs; prints only JSON (or nothing).
"""

import base64
import json
import sys

import boto3

TABLE = "imglake-images"
BUCKET = "imglake-lake"
DATABASE = "imglake"
GLUE_TABLE = "image_events"
T0_MS = 1_795_525_200_000  # 2026-11-24T13:00:00Z


def setup():
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "image_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": GLUE_TABLE,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": "dt", "Type": "date"}, {"Name": "hour", "Type": "int"}],
            "StorageDescriptor": {
                "Columns": [{"Name": "event_id", "Type": "string"}],
                "Location": f"s3://{BUCKET}/lake/image_events/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                },
            },
        },
    )


def item(image_id, status, source, received_ms):
    return {
        "image_id": {"S": image_id},
        "status": {"S": status},
        "source": {"S": source},
        "tenant": {"S": "acme"},
        "format": {"S": "jpeg"},
        "size_bytes": {"N": "123456"},
        "received_at": {"N": str(received_ms)},
        "expires_at": {"N": str(received_ms // 1000 + 7 * 86400)},
        "thumbhash": {"B": b"\x00\x01\x02"},
    }


def changes():
    ddb = boto3.client("dynamodb")
    for i, source in enumerate(["api", "kafka", "api"]):
        ddb.put_item(TableName=TABLE, Item=item(f"img-{i}", "RECEIVED", source, T0_MS + i))
    ddb.update_item(
        TableName=TABLE,
        Key={"image_id": {"S": "img-0"}},
        UpdateExpression="SET #s = :s",
        ConditionExpression="#s = :from",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "PROCESSING"}, ":from": {"S": "RECEIVED"}},
    )
    ddb.update_item(
        TableName=TABLE,
        Key={"image_id": {"S": "img-1"}},
        UpdateExpression="SET #s = :s, error_code = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "REJECTED"}, ":c": {"S": "unsupported_type"}},
    )
    ddb.delete_item(TableName=TABLE, Key={"image_id": {"S": "img-2"}})


def to_wire(value):
    """The low-level client decodes B/BS to bytes; the wire (and Lambda) carries base64."""
    if isinstance(value, dict):
        return {k: (base64.b64encode(v).decode() if k == "B" else
                    [base64.b64encode(b).decode() for b in v] if k == "BS" else to_wire(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value


def event():
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it, Limit=100)
            for r in page["Records"]:
                d = r["dynamodb"]
                d["ApproximateCreationDateTime"] = d["ApproximateCreationDateTime"].timestamp()
                r["dynamodb"] = to_wire(d)
                r["eventSourceARN"] = arn  # Lambda adds the stream ARN
                records.append(r)
            it = page.get("NextShardIterator") if page["Records"] else None
    print(json.dumps({"Records": records}))


QUEUE = "imglake-stream-export-failures"


def queue():
    print(boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"])


def shard_records():
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    it = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return arn, shard["ShardId"], streams.get_records(ShardIterator=it, Limit=1000)["Records"]


def fail():
    first, last = int(sys.argv[2]), int(sys.argv[3])
    arn, shard_id, records = shard_records()
    arn = sys.argv[4] if len(sys.argv) > 4 else arn
    batch = records[first : last + 1]
    arrival = lambda r: r["dynamodb"]["ApproximateCreationDateTime"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    message = {
        "requestContext": {
            "requestId": "c9b5b0f0-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:imglake-stream-export",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-24T13:05:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": arrival(batch[0]),
            "approximateArrivalOfLastRecord": arrival(batch[-1]),
            "batchSize": len(batch),
            "streamArn": arn,
        },
    }
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def depth():
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    print(int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def partitions():
    parts = boto3.client("glue").get_partitions(DatabaseName=DATABASE, TableName=GLUE_TABLE)
    print(json.dumps(sorted(
        [{"values": p["Values"], "location": p["StorageDescriptor"]["Location"]} for p in parts["Partitions"]],
        key=lambda p: p["values"],
    )))


{
    "setup": setup,
    "changes": changes,
    "event": event,
    "partitions": partitions,
    "queue": queue,
    "fail": fail,
    "depth": depth,
}[sys.argv[1]]()
