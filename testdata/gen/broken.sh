#!/usr/bin/env bash
# Makes the broken capture files of testdata/broken from two real captures
# of this repository, by cutting or overwriting bytes (head, printf, dd), so
# that the reader's handling of each fault is tested on a file on disk
# (internal/capture TestRealBrokenFiles; analyze reads them too).
# Usage: testdata/gen/broken.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
pcap=testdata/policer/policer.srv.pcap   # nanosecond pcap, LE; records at 24 (74 B), 114 (74 B), 204 (66 B)
ng=testdata/encap/k8s-overlay.pcapng     # SHB 0-67, IDB 68-123, EPBs at 124, 372, 620 (248 B each)
out=testdata/broken
mkdir -p "$out"

# 1. pcap cut in the middle of its third record's data (2 whole frames).
head -c 240 "$pcap" >"$out/trunc-record.pcap"
# 2. pcap cut in the middle of the third record's 16-byte header.
head -c 210 "$pcap" >"$out/trunc-header.pcap"
# 3. pcapng cut in the middle of its second packet block (1 whole frame).
head -c 500 "$ng" >"$out/trunc-block.pcapng"
# 4. not a capture: the pcap with its magic number overwritten.
head -c 1000 "$pcap" >"$out/bad-magic.pcap"
printf 'JUNK' | dd of="$out/bad-magic.pcap" bs=1 conv=notrunc status=none
# 5. pcap whose second record claims a captured length of 0xFFFFFFF0.
head -c 1000 "$pcap" >"$out/bad-caplen.pcap"
printf '\xf0\xff\xff\xff' | dd of="$out/bad-caplen.pcap" bs=1 seek=$((114 + 8)) conv=notrunc status=none
# 6. pcapng whose second packet block has a total length of 13 (not a
#    multiple of 4, smaller than any block).
cp "$ng" "$out/bad-blocklen.pcapng"
printf '\x0d\x00\x00\x00' | dd of="$out/bad-blocklen.pcapng" bs=1 seek=$((372 + 4)) conv=notrunc status=none
# 7. pcapng whose first packet block's trailing length differs from its
#    leading one.
cp "$ng" "$out/bad-trailer.pcapng"
printf '\xf8\x01\x00\x00' | dd of="$out/bad-trailer.pcapng" bs=1 seek=$((124 + 248 - 4)) conv=notrunc status=none
# 8. an empty file.
: >"$out/notcap-empty.pcap"
ls -l "$out"
