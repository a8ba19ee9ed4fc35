/* SPDX-License-Identifier: MIT */
/*
 * linegate-loadgen --from: a plant's own recording (WAV, FLAC, CSV, .npy), read as
 * linegate-train reads it (include/linegate/ingest.h), sent as one enrolled device's LGF
 * frames at the recorded pace. This part knows the file, its segments and where each frame
 * falls in the recording's time; loadgen.c signs and sends.
 */
#ifndef LINEGATE_LOADGEN_FILES_H
#define LINEGATE_LOADGEN_FILES_H

#include <linegate/ingest.h>

#include <stddef.h>
#include <stdint.h>

struct lg_lgfile {
	struct lg_ingest in;
	struct lg_ingest_dev *dev; /* the one device the file holds */
	unsigned n;                /* samples per channel a frame */
	uint64_t frames;           /* frames the recording gives (at most the cap) */
	uint64_t left_out;         /* samples per channel past a segment's last whole frame */
	/* the next frame */
	uint64_t sent;
	size_t seg, off;
};

/* "DEVICE=FILE" or "FILE": *device is NULL for the second (the file's stem names it). */
int lg_lgfile_parse_arg(char *arg, const char **device, const char **path);

/*
 * Read path as the recording of o->device, with o's rate (for a file without one of its own,
 * or over it with rate_here), scale and the rest as linegate-train reads a --from file.
 * Errors (the file's, with its position, and the reader's own) in err. The frame size is set
 * by lg_lgfile_frames().
 */
int lg_lgfile_open(struct lg_lgfile *f, const char *path, const struct lg_ingest_opts *o,
		   char *err, size_t errlen);
/* One more file of the same device, after those before (its own segment, as linegate-train
 * appends a device's files): the same options and errors as lg_lgfile_open(); on an error the
 * recording stays as it was. */
int lg_lgfile_add(struct lg_lgfile *f, const char *path, const struct lg_ingest_opts *o,
		  char *err, size_t errlen);
/* Cut the recording in frames of n samples per channel, at most cap frames (0: all). */
void lg_lgfile_frames(struct lg_lgfile *f, unsigned n, uint64_t cap);
/* Seconds from the recording's first sample to where the next frame's last sample falls
 * (when it is due at the recorded pace); a negative value when no frame is left. */
double lg_lgfile_due(const struct lg_lgfile *f);
/* The next frame's samples, interleaved as LGF carries them (sample i of channel c at
 * out[i * channels + c]), and on to the one after. 1 when the frame starts a segment after
 * the first (the recording has a gap before it: a cut for bad samples, a stop), else 0. */
int lg_lgfile_next(struct lg_lgfile *f, float *out);
/* The frame (from 0) in which a sample at t seconds from the first falls, or the first
 * frame after t when t is in a gap or a segment's left-out tail; UINT64_MAX if no frame
 * is sent from t on. */
uint64_t lg_lgfile_frame_at(const struct lg_lgfile *f, double t);
/* Seconds from the first sample to frame k's first sample (k below frames). */
double lg_lgfile_frame_t0(const struct lg_lgfile *f, uint64_t k);
/* Seconds from the first sample to the end of the last frame sent. */
double lg_lgfile_last_end(const struct lg_lgfile *f);
void lg_lgfile_free(struct lg_lgfile *f);

#endif /* LINEGATE_LOADGEN_FILES_H */
