/* SPDX-License-Identifier: MIT */
/*
 * Ingest: a plant's recordings into per-device sample streams, for training and evaluation
 * (linegate-train, linegate-quality; docs/models.md "Training on your own line").
 *
 * Formats, by file name extension:
 *  - .pcap, .pcapng (any link type the pcap backend reads): LGF frames to the policy's
 *    port, through the pcap backend (dataplane/backend/pcap.c). With a policy, frames are
 *    named by its devices and their tags are checked with its keys; without, a device is
 *    "dev<ID>" and tags are not checked. Samples keep their order by sequence; a frame
 *    that does not follow on in time (a lost frame, a stop) starts a new segment, so that no
 *    window spans a gap. With a policy, UADP (OPC UA PubSub) messages to its uadp_port too:
 *    each DataSetMessage's device by the policy's identity, signatures checked and
 *    SignAndEncrypt payloads decrypted with the device's group keys, samples from the fields
 *    the worker windows (lg_uadp_sample_fields()), at the device's policy sample_rate.
 *  - .wav, .flac (and whatever else libsndfile reads): the file's rate and channels;
 *    integer PCM as libsndfile gives it (value / 2^(bits-1)), then times the scale.
 *  - .csv: one row per sample, one column per channel; an optional header row; a time
 *    column (t, time, zeit, timestamp, with a unit s, ms, us or ns as "Time (s)", "t [ms]",
 *    "time_us"; seconds without one) gives the sample rate, else it must be given. A first
 *    column that rises evenly like a clock under another name is refused (a time column
 *    read as a channel). A file whose last row has no line end is refused (cut), or with
 *    allow_cut read up to its last whole row.
 *  - .npy: float32, float64, int16 or int32, shape (n,) or (n, channels); the rate must be
 *    given.
 * One device per WAV/FLAC/CSV/npy file: the given name, else the file's stem. Files of the
 * same device are appended in the order given, each as its own segment.
 *
 * Bad samples (docs/policy.md "Bad samples"): a NaN, +-Inf, or a value outside the device's
 * policy 'range' (else beyond +-LG_SAMPLE_LIMIT) is treated as the data plane treats it,
 * by opts.bad_samples. LGF frames and UADP DataSetMessages: under drop the frame is left out
 * and the device's segment ends there (no window spans the gap); under mask each bad sample
 * becomes its channel's last good value (0 before any). WAV/FLAC/CSV/npy: the "frame" is a
 * sample row (one sample per channel): under drop the row is left out and the segment cut
 * there. Counted in the stats, and per file in lg_ingest.bad with where the first was.
 */
#ifndef LINEGATE_INGEST_H
#define LINEGATE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/follow.h>

struct lg_policy;

#define LG_INGEST_MAX_CHANNELS 16
#define LG_INGEST_NAME_MAX 64

/* Contiguous samples of one device: channel c's sample i is x[c * cap + i] (i < n). */
struct lg_ingest_seg {
	double t0;   /* seconds from the device's first sample */
	size_t n;    /* samples per channel */
	size_t cap;
	float *x;
	unsigned file;    /* index into lg_ingest.files: where it starts */
	unsigned file_last; /* and where it ends (a capture's stream goes on in its next file) */
	unsigned spilled; /* x is a mapping of an unlinked file in lg_ingest.spill_dir */
};

/* The bad samples of the last file lg_ingest_file() read. */
struct lg_ingest_bad {
	uint64_t dropped; /* frames or sample rows left out (bad_samples drop) */
	uint64_t masked;  /* samples masked (bad_samples mask) */
	char first[160];  /* where the first was: "record 1005 (device fanB)", "line 12, column
			   * 3", "sample row 102403", "byte 819352 (sample row 204806)" */
};

struct lg_ingest_dev {
	char name[LG_INGEST_NAME_MAX];
	double rate;       /* samples per second per channel */
	unsigned channels;
	size_t nseg;
	struct lg_ingest_seg *seg;
	/* pcap: the stream so far */
	uint32_t lgf_id;
	uint64_t last_seq;
	uint64_t first_ns;        /* sender's clock: the first sample */
	struct lg_follow follow;  /* LGF: does the next frame follow (the data plane's rule) */
	/* pcap: what the file being read gave (a segment may go on from the file before) */
	unsigned file_at;         /* that file's index + 1 (0: none yet) */
	unsigned file_segs;       /* segments with samples from it */
	size_t file_seg_last;     /* the last of them */
	uint64_t file_samples;    /* samples per channel from it */
	uint32_t uadp_want;   /* UADP: the DataSet fields its key frames carried samples in */
	int cut;              /* pcap: a frame was dropped (bad sample): the next starts a segment */
	float last_good[LG_INGEST_MAX_CHANNELS]; /* bad_samples mask: each channel's last good */
	unsigned first_file; /* index into lg_ingest.files of the file it was first met in */
};

struct lg_ingest_stats {
	uint64_t records;       /* pcap records read */
	uint64_t frames;        /* LGF sample frames taken */
	uint64_t not_lgf;       /* records that are not LGF to the port (skipped) */
	uint64_t bad_tag;       /* LGF frames whose tag did not verify (skipped) */
	uint64_t unknown;       /* LGF frames of devices the policy does not enroll (skipped) */
	uint64_t out_of_order;  /* LGF frames at or behind the device's last sequence (skipped) */
	uint64_t gaps;          /* new segments because a frame did not follow on in time */
	uint64_t samples;       /* samples per channel taken, all devices */
	uint64_t uadp_no_samples; /* UADP DataSetMessages without sample arrays (skipped) */
	uint64_t other_device;  /* frames of devices other than opts.only (skipped) */
	uint64_t cut_short;     /* pcap records cut short (the file's last, with allow_cut; or
				 * a datagram the capture's snap length cut) */
	uint64_t bad_dropped;   /* frames (pcap) or sample rows (other files) left out for a bad
				 * sample (opts.bad_samples drop) */
	uint64_t bad_masked;    /* bad samples masked (opts.bad_samples mask) */
	/* the first devices whose tags or signatures failed, with their counts */
	struct { char name[LG_INGEST_NAME_MAX]; uint64_t n; } bad_dev[8];
	unsigned nbad_dev;
};

struct lg_ingest {
	size_t ndev;
	struct lg_ingest_dev *dev;
	size_t nfiles;
	char **files;
	struct lg_ingest_stats st;
	/* lg_ingest_all()'s opts.allow_cut (the tools' --allow-cut) */
	int allow_cut;
	/* pcap with opts.only: the names of the devices whose frames were left out */
	size_t nother;
	char (*other)[LG_INGEST_NAME_MAX];
	/* the last file's bad samples */
	struct lg_ingest_bad bad;
	/* What the last file gave, one line each (a device's channels and the columns they came
	 * from, a rate given over the file's own, ...), for the tools to print: "file: ..."
	 * lines, warnings starting "WARNING: ". Cleared by lg_ingest_file(). */
	char *notes;
	size_t notes_len;
	/* Samples past mem_budget bytes (0: no limit) are kept in unlinked files in spill_dir
	 * (NULL: $TMPDIR, else /var/tmp), mapped shared: the kernel writes them out and reads
	 * them back as windows are made, so a recording larger than the memory is read whole.
	 * mem_used and spill_used: the bytes of sample buffers in each. */
	size_t mem_budget;
	const char *spill_dir;
	size_t mem_used, spill_used;
	int spill_said; /* the first spill was put in notes */
};

struct lg_ingest_opts {
	double rate;        /* 0: from the file (CSV without a time column and .npy need it) */
	/* rate overrides a rate the file carries (a WAV/FLAC header, a CSV time column); 0:
	 * such a file keeps its own, said in a note when rate differs (a rate meant for other
	 * files: trial T, s24) */
	int rate_here;
	/* with rate_here 0: rate is only for files without a rate of their own, and a file
	 * with its own is not said (linegate-loadgen --from: the device's policy rate) */
	int rate_fallback;
	/* where rate came from, as the notes say it (NULL: "--sample-rate") */
	const char *rate_said;
	double scale;       /* every sample is multiplied by it; 0 means 1 */
	const char *device; /* NULL: the file's stem (not for pcap: the frames name devices) */
	/* pcap: the policy whose port, device names and keys apply; NULL: port below */
	const struct lg_policy *policy;
	uint16_t port;      /* pcap: the LGF port (0: the policy's; one of the two is needed) */
	/* pcap: take only this device's frames (NULL: every device's); the others are
	 * skipped and counted (other_device). */
	const char *only;
	/* pcap: a file that ends inside a record (a copy cut short) is read up to the cut;
	 * 0: refused, saying how many whole records it holds. CSV: a last row without a line
	 * end is left out (counted in cut_short); 0: refused. */
	int allow_cut;
	/* enum lg_bad_samples (policy.h): LG_BAD_SAMPLES_DROP (0) or LG_BAD_SAMPLES_MASK */
	int bad_samples;
};

/* Append one file. Errors are written to err as "file:position: message" (a CSV line and
 * column, a pcap record number, a byte offset) and the set is left as it was. */
int lg_ingest_file(struct lg_ingest *in, const char *path, const struct lg_ingest_opts *o,
		   char *err, size_t errlen);
void lg_ingest_free(struct lg_ingest *in);
/* The device with this name, or NULL. */
struct lg_ingest_dev *lg_ingest_find(struct lg_ingest *in, const char *name);
/* Whether a device's frames were in the files but left out by opts.only. */
int lg_ingest_left_out(const struct lg_ingest *in, const char *name);
/* A file's name without its folder and from its first '.' on: the device a WAV/FLAC/CSV/npy
 * file names when no device is given ("fan2.2026-12.wav" is fan2). */
void lg_ingest_stem(const char *path, char *out, size_t len);
/* Whether lg_ingest_file() reads path as a capture (.pcap, .pcapng, .cap, any case; a
 * recording still being written, NAME.pcapng.part). */
int lg_ingest_is_capture(const char *path);
/* A capture's first record's time (ns since the epoch) in *ns: 0, or -1 when it cannot be
 * read (no libpcap in this build, not a capture, an empty one): for reading the files of
 * a recording in time order whatever their names (lifecycle.c). */
int lg_ingest_capture_start(const char *path, uint64_t *ns);
/* SHA-256 over every device's name, rate, channels and samples in order, as 64 hex
 * digits: the training data digest a model records. */
int lg_ingest_digest(const struct lg_ingest *in, char hex[65]);
/* The same over one device alone: the data digest of a detector trained on that device's
 * samples only, by which linegate-quality knows them again in another set of files. */
int lg_ingest_dev_digest(const struct lg_ingest_dev *d, char hex[65]);
/* Where the device's recording ends, seconds from its first sample (gaps included). */
double lg_ingest_end(const struct lg_ingest_dev *d);
/* The folder samples past mem_budget go to: spill_dir, else $TMPDIR, else /var/tmp. */
const char *lg_ingest_spill_dir(const struct lg_ingest *in);
/* Seconds of samples a device holds (all segments). */
double lg_ingest_seconds(const struct lg_ingest_dev *d);

/* The parsers alone, on a buffer (for the fuzzers): CSV and .npy into one segment. */
int lg_ingest_csv_mem(struct lg_ingest *in, const char *text, size_t len, const char *name,
		      const struct lg_ingest_opts *o, char *err, size_t errlen);
int lg_ingest_npy_mem(struct lg_ingest *in, const uint8_t *buf, size_t len, const char *name,
		      const struct lg_ingest_opts *o, char *err, size_t errlen);

/*
 * Ground truth: a CSV file with the header device,kind,onset[,end] (seconds from the
 * device's first sample; end empty = to the end of its recording). Devices without a row
 * are healthy. Errors as "file:line:column: message".
 */
struct lg_label {
	char device[LG_INGEST_NAME_MAX];
	char kind[32];
	double onset, end; /* end < 0: none */
	unsigned line;     /* its line in the file */
};

struct lg_labels {
	size_t n;
	struct lg_label *l;
};

int lg_labels_load(const char *path, struct lg_labels *out, char *err, size_t errlen);
/* The same from text in memory (len bytes, no NUL needed), named name in messages. */
int lg_labels_load_mem(const char *text, size_t len, const char *name, struct lg_labels *out,
		       char *err, size_t errlen);
void lg_labels_free(struct lg_labels *l);
/* The first label of a device (NULL: healthy); a device may have several rows. */
const struct lg_label *lg_labels_find(const struct lg_labels *l, const char *device);

#endif /* LINEGATE_INGEST_H */
