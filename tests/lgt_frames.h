/* SPDX-License-Identifier: MIT */
/* Test code: whole frames for the admission decision (user space, lg_uadmit_judge()). */
#ifndef LGT_FRAMES_H
#define LGT_FRAMES_H

#include <linegate/frame.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* An LGF frame of device dev, key id 1 (the 32-byte key), sequence seq: one channel of the
 * four float32 samples s. Its length (lg_lgf_encode()). */
static inline int lgt_lgf4(uint8_t *out, size_t cap, const uint8_t key[32], uint32_t dev,
			   uint64_t seq, const float s[4])
{
	struct lg_lgf_build bd = {.device_id = dev,
				  .key_id = 1,
				  .type = LGF_TYPE_SAMPLES,
				  .sample_format = LGF_FMT_F32,
				  .channels = 1,
				  .sample_count = 4,
				  .scale = 1,
				  .sequence = seq,
				  .samples = s};

	return lg_lgf_encode(&bd, key, 32, out, cap);
}

/* An Ethernet/IPv4/UDP frame from 10.0.0.1:40000 to 10.0.0.2:port carrying an LGF frame of
 * device dev (key id 1, an all-zero key), sequence seq; its length. */
static inline uint32_t lgt_lgf_frame(uint8_t *f, size_t cap, uint16_t port, uint32_t dev,
				     uint64_t seq)
{
	static const uint8_t k1[32];
	static const float s[4];
	int n = lgt_lgf4(f + 42, cap - 42, k1, dev, seq, s);
	uint32_t ulen = (uint32_t)n + 8, ilen = ulen + 20, sum = 0;

	memset(f, 0, 42);
	memset(f, 0x02, 12);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ilen >> 8);
	f[17] = (uint8_t)ilen;
	f[22] = 64;
	f[23] = IPPROTO_UDP;
	memcpy(f + 26, (uint8_t[]){10, 0, 0, 1}, 4);
	memcpy(f + 30, (uint8_t[]){10, 0, 0, 2}, 4);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	f[34] = 0x9c;
	f[35] = 0x40; /* source port 40000 */
	f[36] = (uint8_t)(port >> 8);
	f[37] = (uint8_t)port;
	f[38] = (uint8_t)(ulen >> 8);
	f[39] = (uint8_t)ulen; /* checksum 0: none */
	return ilen + 14;
}

#endif /* LGT_FRAMES_H */
