#!/usr/bin/env bash
# Federated statistics of a line with two sample rates (docs/models.md "Federated
# statistics"): the export of the whole recording is refused with a message about
# federated statistics, not about --pooled (never given), and an export of one device
# (--only-device) of the same recording works. pcap files, no root.
source "$(dirname "$0")/lib.sh"
lg_tmp
T=$LG_TMP
TRAIN="$LG_BUILD/control/linegate-train"
lg_keys "$T"
# The default policy's first four devices, press-2-vib at 20 kHz, the others at 10 kHz.
awk '/^  - id: 105/{exit} /^  - id: 103/{print "    sample_rate: 20000"} {print}' \
	"$LG_SOURCE/control/defaults/policy.yaml" > "$T/run.yaml"
grep -c "sample_rate: 20000" "$T/run.yaml" | grep -qx 1 || lg_fail "the policy: $(cat "$T/run.yaml")"
"$LG_BIN_GEN" -p "$T/run.yaml" -t 10.77.0.1 --pcap "$T/line.pcap" -d 4 -n 400 -r 0 -q \
	2> "$T/gen.err" || lg_fail "loadgen: $(cat "$T/gen.err")"
fed=(--shift-from "$LG_SOURCE/control/defaults/model.json" --clip 8)
rc=0
"$TRAIN" --from "$T/line.pcap" --policy "$T/run.yaml" "${fed[@]}" --stats-out "$T/all.json" \
	> /dev/null 2> "$T/all.err" || rc=$?
[ $rc -ne 0 ] && [ ! -e "$T/all.json" ] || lg_fail "mixed rates exported (status $rc)"
grep -q "federated statistics (--stats-out, --merge) are those of one detector, for one sample rate" \
	"$T/all.err" || lg_fail "mixed rates: $(tail -2 "$T/all.err")"
grep -q -- "--pooled" "$T/all.err" && lg_fail "mixed rates: names --pooled: $(tail -1 "$T/all.err")"
"$TRAIN" --from "$T/line.pcap" --policy "$T/run.yaml" --only-device press-2-vib "${fed[@]}" \
	--stats-out "$T/one.json" > /dev/null 2> "$T/one.err" ||
	lg_fail "--only-device export: $(tail -2 "$T/one.err")"
# the training half of its 400 healthy windows
lg_json "$T/one.json" '150 <= d["count"] <= 250' | grep -qx True ||
	lg_fail "one device's export: count $(lg_json "$T/one.json" 'd["count"]')"
echo "train_fed_rates: mixed rates refused as federated; one device's export of" \
	"$(lg_json "$T/one.json" 'int(d["count"])') training windows"
