"""Reads an EBS snapshot back through the EBS direct APIs (boto3's
ListSnapshotBlocks and GetSnapshotBlock) into a sparse raw file of the
volume's size: blocks not listed stay holes (zeros), or, with --base, keep
the bytes of that file (the parent snapshot's read-back, as EBS reads an
incremental snapshot's unwritten blocks from its parent). Each block's
checksum is verified. Prints the number of blocks read.

Usage: readback.py --endpoint URL SNAPSHOT_ID OUT [--base FILE]
"""

import argparse
import base64
import hashlib
import shutil

import boto3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("snapshot")
    parser.add_argument("out")
    parser.add_argument("--base")
    a = parser.parse_args()
    ebs = boto3.client("ebs", endpoint_url=a.endpoint, region_name="us-east-1")
    listed = {"NextToken": None}
    blocks = []
    volume_size = None
    while True:
        kwargs = {"SnapshotId": a.snapshot}
        if listed.get("NextToken"):
            kwargs["NextToken"] = listed["NextToken"]
        listed = ebs.list_snapshot_blocks(**kwargs)
        volume_size = listed["VolumeSize"]
        blocks += listed["Blocks"]
        if not listed.get("NextToken"):
            break
    block_size = 524288  # EBS blocks; moto says 512 in BlockSize
    if a.base:
        shutil.copyfile(a.base, a.out)
    with open(a.out, "r+b" if a.base else "wb") as out:
        out.truncate(volume_size << 30)
        for b in blocks:
            got = ebs.get_snapshot_block(SnapshotId=a.snapshot, BlockIndex=b["BlockIndex"], BlockToken=b["BlockToken"])
            data = got["BlockData"].read()
            if len(data) != block_size:
                raise SystemExit(f"block {b['BlockIndex']} has {len(data)} bytes")
            if got.get("Checksum") and base64.b64encode(hashlib.sha256(data).digest()).decode() != got["Checksum"]:
                raise SystemExit(f"block {b['BlockIndex']} does not match its checksum")
            out.seek(b["BlockIndex"] * block_size)
            out.write(data)
    print(len(blocks))


if __name__ == "__main__":
    main()
