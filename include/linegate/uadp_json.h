/* SPDX-License-Identifier: MIT */
/*
 * OPC UA PubSub JSON message mapping (OPC 10000-14, 7.2.5) into an equivalent unsigned UADP
 * NetworkMessage, so that a JSON message from an MQTT broker is judged by the one worker
 * path a UADP datagram takes (identity, transport, security, replay, channels).
 *
 * What is taken from the JSON NetworkMessage: PublisherId (string or number), Messages (a
 * list, or one DataSetMessage object) and per DataSetMessage: DataSetWriterId, SequenceNumber
 * (its low 16 bits, as UADP carries), MetaDataVersion, Timestamp, Status (its high 16 bits)
 * and MessageType (ua-keyframe, ua-deltaframe, ua-keepalive; ua-event is refused as UADP
 * events are), and Payload: field name -> value, a value being a plain JSON value (number:
 * Double, true/false: Boolean, string: String, null: no value, a list of numbers: Double
 * array), a Variant in the reversible form {"UaType": N, "Value": v} (also the older
 * {"Type": N, "Body": v}) of the built-in types Boolean..Double, String and DateTime, scalar
 * or list (String scalar only), the non-reversible {"Body": v} of 1.04, or a DataValue
 * (1.05: the Variant's members with StatusCode, timestamps; 1.04: {"Value": Variant, ...}),
 * whose value is taken. A delta frame's fields are placed by their names in the resolver's
 * field list (struct lg_uadp_json_ident.fields): a name it does not list is refused.
 * A JSON message has no WriterGroupId and names its publisher in text: the caller's resolver
 * (the policy) says which identity a (PublisherId, DataSetWriterId) is and the order of the
 * DataSet's fields. A message the resolver does not know is still converted, with its
 * PublisherId as a String, so that the worker counts it as any unknown UADP identity.
 */
#ifndef LINEGATE_UADP_JSON_H
#define LINEGATE_UADP_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Limits on what is converted; a message past them is refused (-E2BIG). */
#define LG_UADP_JSON_MAX_LEN 65536 /* bytes of JSON */
#define LG_UADP_JSON_MAX_DEPTH 8   /* nesting of objects and lists */

/* The identity and field order a (PublisherId, DataSetWriterId) has in the policy. */
struct lg_uadp_json_ident {
	uint8_t pub_type;   /* enum lg_uadp_pubid_type */
	uint64_t pub_num;   /* numeric PublisherId */
	char pub_str[33];   /* String PublisherId */
	uint16_t writer_group;
	/* The DataSet's field names in DataSet order, a NUL after each; nfields 0: the fields
	 * go in the order the JSON Payload gives them. Named fields the message lacks become
	 * empty Variants; fields the names do not list follow in JSON order. */
	uint8_t nfields;
	const char *fields;
};

/* Fill *out for the publisher (as the JSON's text: "2234") and writer: 0, or -ENOENT. */
typedef int (*lg_uadp_json_resolve_fn)(void *arg, const char *publisher, uint16_t writer,
				       struct lg_uadp_json_ident *out);

struct lg_uadp_json;

/* Conversion space (a decoded-message view and the field values), one per thread. */
int lg_uadp_json_new(struct lg_uadp_json **out);
/* Accepts NULL. */
void lg_uadp_json_free(struct lg_uadp_json *c);

/*
 * Convert json[0..len) into an unsigned UADP NetworkMessage in out[0..cap). resolve may be
 * NULL (every message unknown). Returns the message's length, or:
 *   -EBADMSG  not JSON (syntax, invalid UTF-8, nesting past the limit);
 *   -EPROTO   JSON, but not a PubSub data NetworkMessage (a field missing or of a wrong
 *             type, a number out of its type's range, a bad timestamp);
 *   -ENOTSUP  a PubSub message outside the UADP subset (a field type, a matrix, a delta
 *             frame's field the resolver does not name, ua-metadata);
 *   -ENOMSG   an event DataSetMessage (ua-event);
 *   -E2BIG    past a limit (length, depth, DataSetMessages, fields, out's capacity).
 */
int lg_uadp_json_convert(struct lg_uadp_json *c, const char *json, size_t len,
			 lg_uadp_json_resolve_fn resolve, void *arg, uint8_t *out, size_t cap);

/* An RFC 3339 time ("2026-12-04T20:54:10.9042751Z", offsets allowed) as an OPC UA DateTime
 * (100 ns ticks since 1601-01-01 UTC): 0 or -EINVAL. */
int lg_uadp_json_time(const char *s, int64_t *ticks);

#endif /* LINEGATE_UADP_JSON_H */
