// SPDX-License-Identifier: MIT
/*
 * Enrollment edits of the policy text (policy_edit.h). The text is never re-emitted from
 * a tree, which would lose the operator's comments and layout: libyaml only says where
 * each node starts and ends, and the edit splices lines in or out at those places.
 */
#include "policy_edit.h"
#include "ctlproto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_SPLICES 8

/* Replace [at, end) of the text with ins. */
struct splice {
	size_t at, end;
	char *ins;
};

struct edoc {
	const char *text;
	size_t len;
	yaml_parser_t parser;
	yaml_document_t doc;
	/* libyaml's mark.index counts characters, not bytes (and leaves out a BOM): byte[i]
	 * is the byte offset of character i, so that a comment in UTF-8 moves nothing. */
	size_t *byte;
	size_t nchars;
	struct splice sp[MAX_SPLICES];
	unsigned nsp;
	char *err;
	size_t errlen;
};

static int eerr(struct edoc *d, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int eerr(struct edoc *d, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static int doc_load(struct edoc *d, const char *text, size_t len, char *err, size_t errlen)
{
	size_t i = 0, n = 0;

	memset(d, 0, sizeof(*d));
	d->text = text;
	d->len = len;
	d->err = err;
	d->errlen = errlen;
	d->byte = malloc((len + 1) * sizeof(*d->byte));
	if (!d->byte)
		return -ENOMEM;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		i = 3;
	for (; i < len; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			d->byte[n++] = i;
	d->byte[n] = len;
	d->nchars = n;
	if (!yaml_parser_initialize(&d->parser)) {
		free(d->byte);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&d->parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&d->parser, &d->doc)) {
		eerr(d, -EINVAL, "line %zu column %zu: %s", d->parser.problem_mark.line + 1,
		     d->parser.problem_mark.column + 1,
		     d->parser.problem ? d->parser.problem : "YAML syntax error");
		yaml_parser_delete(&d->parser);
		free(d->byte);
		return -EINVAL;
	}
	return 0;
}

static void doc_free(struct edoc *d)
{
	yaml_document_delete(&d->doc);
	yaml_parser_delete(&d->parser);
	free(d->byte);
	for (unsigned i = 0; i < d->nsp; i++)
		free(d->sp[i].ins);
}

static size_t at_byte(const struct edoc *d, const yaml_mark_t *m)
{
	return d->byte[m->index < d->nchars ? m->index : d->nchars];
}

static yaml_node_t *nd(struct edoc *d, int idx)
{
	return yaml_document_get_node(&d->doc, idx);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key in a mapping (and its key node), NULL when absent. */
static yaml_node_t *map_get(struct edoc *d, yaml_node_t *map, const char *key, yaml_node_t **k)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *s = scalar(nd(d, p->key));

		if (s && !strcmp(s, key)) {
			if (k)
				*k = nd(d, p->key);
			return nd(d, p->value);
		}
	}
	return NULL;
}

static size_t seq_len(const yaml_node_t *s)
{
	return s->data.sequence.items.top - s->data.sequence.items.start;
}

static yaml_node_t *seq_item(struct edoc *d, yaml_node_t *s, size_t i)
{
	return nd(d, s->data.sequence.items.start[i]);
}

static bool is_flow(const struct edoc *d, const yaml_node_t *n)
{
	char c = d->text[at_byte(d, &n->start_mark)];

	return (n->type == YAML_SEQUENCE_NODE && c == '[') ||
	       (n->type == YAML_MAPPING_NODE && c == '{');
}

/* Byte just past a node's last character of content. A block collection's end mark lies
 * at the next token, past trailing comments and blank lines, so it is not used. */
static size_t content_end(struct edoc *d, yaml_node_t *n)
{
	size_t end = at_byte(d, &n->start_mark);

	if (n->type == YAML_SCALAR_NODE) {
		if (n->end_mark.index > n->start_mark.index)
			end = at_byte(d, &n->end_mark);
	} else if (is_flow(d, n)) {
		end = at_byte(d, &n->end_mark);
	} else if (n->type == YAML_SEQUENCE_NODE) {
		for (size_t i = 0; i < seq_len(n); i++) {
			size_t e = content_end(d, seq_item(d, n, i));

			end = e > end ? e : end;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			size_t k = content_end(d, nd(d, p->key)),
			       v = content_end(d, nd(d, p->value));

			end = k > end ? k : end;
			end = v > end ? v : end;
		}
	}
	return end;
}

/* Does byte i end a line? As for libyaml: LF, CR LF (its LF), or a CR alone. */
static bool is_eol(const struct edoc *d, size_t i)
{
	return d->text[i] == '\n' ||
	       (d->text[i] == '\r' && (i + 1 == d->len || d->text[i + 1] != '\n'));
}

/* Does the text before byte at end with a line end (or is there no text before it)? */
static bool at_line_start(const struct edoc *d, size_t at)
{
	return !at || is_eol(d, at - 1);
}

static size_t line_start(const struct edoc *d, size_t at)
{
	while (!at_line_start(d, at))
		at--;
	return at;
}

/* Past the line end of the line holding byte at (or the end of the text). */
static size_t next_line(const struct edoc *d, size_t at)
{
	while (at < d->len && !is_eol(d, at))
		at++;
	return at < d->len ? at + 1 : d->len;
}

/* The '-' in front of a block sequence item. */
static size_t dash_of(const struct edoc *d, size_t item)
{
	while (item > 0 && d->text[item - 1] != '-')
		item--;
	return item ? item - 1 : 0;
}

static int add_splice(struct edoc *d, size_t at, size_t end, char *ins)
{
	if (!ins)
		return -ENOMEM;
	if (d->nsp == MAX_SPLICES) {
		free(ins);
		return -E2BIG;
	}
	d->sp[d->nsp++] = (struct splice){.at = at, .end = end, .ins = ins};
	return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static int cmp_splice(const void *a, const void *b)
{
	const struct splice *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

/* How the text ends its lines, judged by its first line end (LF where it has none). */
enum eol_style { EOL_LF, EOL_CRLF, EOL_CR };

static enum eol_style doc_eol(const struct edoc *d)
{
	for (size_t i = 0; i < d->len; i++)
		if (is_eol(d, i))
			return d->text[i] == '\r' ? EOL_CR : i && d->text[i - 1] == '\r' ? EOL_CRLF :
			       EOL_LF;
	return EOL_LF;
}

/* Copy an insertion, its line ends as the file has them (an edit of a CRLF file that wrote
 * LF lines left it with two kinds of line end). Returns the bytes written. */
static size_t put_ins(char *s, const char *ins, enum eol_style eol)
{
	size_t n = 0;

	for (const char *p = ins; *p; p++) {
		bool lf = *p == '\n' && (p == ins || p[-1] != '\r');

		if (lf && eol == EOL_CRLF)
			s[n++] = '\r';
		s[n++] = lf && eol == EOL_CR ? '\r' : *p;
	}
	return n;
}

/* The text with every splice made, into out. Splices at one place keep the order they
 * were added in (an expiry before the key that follows it). */
static int doc_render(struct edoc *d, struct lg_policy_edit *out, char *err, size_t errlen)
{
	size_t cap = d->len + 1, pos = 0, n = 0;
	enum eol_style eol = doc_eol(d);
	char *s;

	for (unsigned i = 0; i < d->nsp; i++)
		cap += 2 * strlen(d->sp[i].ins); /* room for a CR before each LF */
	/* Insertion sort keeps equal places in order (qsort would not). */
	for (unsigned i = 1; i < d->nsp; i++)
		for (unsigned j = i; j > 0 && cmp_splice(&d->sp[j - 1], &d->sp[j]) > 0; j--) {
			struct splice t = d->sp[j];

			d->sp[j] = d->sp[j - 1];
			d->sp[j - 1] = t;
		}
	/* Splices that overlap, or lie outside the text, are refused, not copied. (A fuzzed
	 * file with a lone CR as a line end once gave two that overlapped, a negative-size
	 * copy, when lines were cut at LF only; they are cut as libyaml cuts them now.) */
	for (unsigned i = 0; i < d->nsp; i++)
		if (d->sp[i].end < d->sp[i].at || d->sp[i].end > d->len ||
		    (i && d->sp[i].at < d->sp[i - 1].end)) {
			snprintf(err, errlen, "the file cannot be edited in place here (the edit's "
				 "changes overlap, at byte %zu): edit it by hand, and report the "
				 "file as an editor bug", d->sp[i].at);
			return -EINVAL;
		}
	s = malloc(cap);
	if (!s)
		return -ENOMEM;
	for (unsigned i = 0; i < d->nsp; i++) {
		memcpy(s + n, d->text + pos, d->sp[i].at - pos);
		n += d->sp[i].at - pos;
		n += put_ins(s + n, d->sp[i].ins, eol);
		pos = d->sp[i].end;
	}
	memcpy(s + n, d->text + pos, d->len - pos);
	n += d->len - pos;
	s[n] = '\0';
	out->text = s;
	out->len = n;
	return 0;
}

static yaml_node_t *root_devices(struct edoc *d, yaml_node_t **key)
{
	yaml_node_t *root = yaml_document_get_root_node(&d->doc);

	return map_get(d, root, "devices", key);
}

static int devices_seq(struct edoc *d, yaml_node_t **seq)
{
	yaml_node_t *root = yaml_document_get_root_node(&d->doc);

	if (!root || root->type != YAML_MAPPING_NODE)
		return eerr(d, -EINVAL, "the policy is not a mapping with 'version' and 'devices'");
	*seq = root_devices(d, NULL);
	if (*seq && (*seq)->type != YAML_SEQUENCE_NODE)
		return eerr(d, -EINVAL, "line %zu: 'devices' is not a list",
			    (*seq)->start_mark.line + 1);
	return 0;
}

static int device_id(struct edoc *d, yaml_node_t *dev, uint32_t *id)
{
	const char *s = scalar(map_get(d, dev, "id", NULL));
	char *end;
	unsigned long v;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

static int find_device(struct edoc *d, uint32_t id, yaml_node_t **seq, size_t *idx)
{
	int ret = devices_seq(d, seq);

	if (ret)
		return ret;
	for (size_t i = 0; *seq && i < seq_len(*seq); i++) {
		uint32_t got;

		if (!device_id(d, seq_item(d, *seq, i), &got) && got == id) {
			*idx = i;
			return 0;
		}
	}
	return eerr(d, -ENOENT, "device %u is not enrolled", id);
}

/* Take item i out of a sequence with its own lines (block) or its comma (flow). The
 * only item of a block list leaves "[]" behind its key: an empty list, not a null. */
static int seq_remove(struct edoc *d, yaml_node_t *seq, size_t i, yaml_node_t *seq_key)
{
	yaml_node_t *it = seq_item(d, seq, i);
	size_t n = seq_len(seq);

	if (is_flow(d, seq)) {
		size_t a = at_byte(d, &it->start_mark), b = content_end(d, it);

		if (i + 1 < n)
			b = at_byte(d, &seq_item(d, seq, i + 1)->start_mark);
		else if (i > 0)
			a = content_end(d, seq_item(d, seq, i - 1));
		return add_splice(d, a, b, strdup(""));
	}
	size_t a = line_start(d, dash_of(d, at_byte(d, &it->start_mark)));
	size_t b = next_line(d, content_end(d, it));
	int ret = add_splice(d, a, b, strdup(""));

	if (ret || n > 1)
		return ret;
	/* After the key's ':' (the key ends at its last character). */
	size_t colon = content_end(d, seq_key);

	while (colon < d->len && d->text[colon] != ':')
		colon++;
	return add_splice(d, colon + 1, colon + 1, strdup(" []"));
}

/* Append an item to a sequence: flow gets ", FLOW" after its last item, block gets the
 * lines of BLOCK (already indented) after the last item's last line. */
static int seq_append(struct edoc *d, yaml_node_t *seq, const char *flow, const char *block)
{
	size_t n = seq_len(seq);

	if (is_flow(d, seq)) {
		if (!n)
			return add_splice(d, at_byte(d, &seq->start_mark) + 1,
					  at_byte(d, &seq->start_mark) + 1, strdup(flow));
		size_t e = content_end(d, seq_item(d, seq, n - 1));

		return add_splice(d, e, e, fmt(", %s", flow));
	}
	size_t e = next_line(d, content_end(d, seq_item(d, seq, n - 1)));

	return add_splice(d, e, e, fmt("%s%s", !at_line_start(d, e) ? "\n" : "", block));
}

/* The column of a block sequence's dashes, and of the first key of its block mapping items. */
static void block_columns(struct edoc *d, yaml_node_t *seq, unsigned *dash, unsigned *field)
{
	yaml_node_t *it = seq_item(d, seq, 0);
	size_t ds = dash_of(d, at_byte(d, &it->start_mark));

	*dash = (unsigned)(ds - line_start(d, ds));
	*field = *dash + 2;
	if (it->type == YAML_MAPPING_NODE && !is_flow(d, it) && it->start_mark.column > *dash)
		*field = (unsigned)it->start_mark.column;
}

static bool safe_word(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("._-", s[n]))
			return false;
	return n < max && s[0] != '-' && s[0] != '.';
}

static bool safe_path(const char *s)
{
	if (!s || !*s || strlen(s) >= LG_PATH_MAX || s[0] == '/' || strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-/", *s))
			return false;
	return true;
}

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(v, *set))
			return true;
	return false;
}

/* A UADP identity's values, each one of its kind, before any goes into the YAML (the
 * parser checks how they combine: replay nonce needs signing, and so on). */
static int check_uadp_spec(struct edoc *d, const struct lg_device_spec *s)
{
	static const char *const types[] = { "byte", "uint16", "uint32", "uint64", "string", NULL };
	static const char *const secs[] = { "none", "sign", "sign_and_encrypt", NULL };
	static const char *const pols[] = { "PubSub-Aes128-CTR", "PubSub-Aes256-CTR", NULL };
	static const char *const replays[] = { "sequence", "nonce", "timestamp", "none", NULL };
	bool str = s->publisher_type && !strcmp(s->publisher_type, "string");

	if (s->publisher_type && !one_of(s->publisher_type, types))
		return eerr(d, -EINVAL, "a publisher type is byte, uint16, uint32, uint64 or "
			    "string, not '%s'", s->publisher_type);
	if (s->publisher_type && !s->publisher_id)
		return eerr(d, -EINVAL, "a publisher type without a publisher id: a publisher that "
			    "sends no PublisherId is known by its source address");
	if (s->publisher_id && (str ? !safe_word(s->publisher_id, 33) :
			       !*s->publisher_id || strlen(s->publisher_id) > 20 ||
			       strspn(s->publisher_id, "0123456789") != strlen(s->publisher_id)))
		return eerr(d, -EINVAL, "a publisher id is %s, not '%s'", str ?
			    "1..32 letters, digits, '.', '_' and '-' (publisher type string)" :
			    "a whole number (publisher type string for a name)", s->publisher_id);
	if (!s->writer == !s->writer_position)
		return eerr(d, -EINVAL, "a UADP device needs a writer (its DataSetWriterId) or a "
			    "writer position (its DataSetMessage's place, for a publisher that "
			    "sends no PayloadHeader), one of them");
	if (s->writer > 65535 || s->writer_position > 65535 || s->writer_group > 65535)
		return eerr(d, -EINVAL, "writer group, writer and writer position are 1..65535");
	if (s->security && !one_of(s->security, secs))
		return eerr(d, -EINVAL, "a security mode is none, sign or sign_and_encrypt, not "
			    "'%s'", s->security);
	if (s->security_policy && !one_of(s->security_policy, pols))
		return eerr(d, -EINVAL, "a security policy is PubSub-Aes128-CTR or "
			    "PubSub-Aes256-CTR, not '%s'", s->security_policy);
	if (s->replay && !one_of(s->replay, replays))
		return eerr(d, -EINVAL, "replay is sequence, nonce, timestamp or none, not '%s'",
			    s->replay);
	return 0;
}

static int check_spec(struct edoc *d, const struct lg_device_spec *s)
{
	uint8_t a[16];
	unsigned b[6];
	char tail;

	if (!s->id)
		return eerr(d, -EINVAL, "a device id is 1..4294967295, not 0");
	if (!safe_word(s->name, LG_NAME_MAX))
		return eerr(d, -EINVAL,
			    "a device name is 1..%d letters, digits, '.', '_' and '-' "
			    "(not first): '%s'",
			    LG_NAME_MAX - 1, s->name ? s->name : "");
	if (!s->source ||
	    (inet_pton(AF_INET, s->source, a) != 1 && inet_pton(AF_INET6, s->source, a) != 1))
		return eerr(d, -EINVAL, "the source '%s' is not an IPv4 or IPv6 address",
			    s->source ? s->source : "");
	if (s->port > 65535)
		return eerr(d, -EINVAL, "a port is 0..65535, not %d", s->port);
	if (s->mac &&
	    (strlen(s->mac) != 17 || sscanf(s->mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1],
					    &b[2], &b[3], &b[4], &b[5], &tail) != 6))
		return eerr(d, -EINVAL, "the mac '%s' does not look like 02:00:00:00:00:01",
			    s->mac);
	if (s->rate > 10000000)
		return eerr(d, -EINVAL, "a rate is at most 10000000 frames per second");
	if (s->group && !safe_word(s->group, LG_NAME_MAX))
		return eerr(d, -EINVAL, "a group name is letters, digits, '.', '_' and '-': '%s'",
			    s->group);
	return s->uadp ? check_uadp_spec(d, s) : 0;
}

size_t lg_device_spec_key_bytes(const struct lg_device_spec *s)
{
	if (!s->uadp || (s->security && !strcmp(s->security, "none")))
		return LG_KEY_LEN;
	return LG_KEY_LEN + LG_UADP_KEY_NONCE_LEN +
	       (s->security_policy && !strcmp(s->security_policy, "PubSub-Aes256-CTR") ? 32 : 16);
}

/* The 'uadp' mapping of a device to enroll, in flow style (one line). */
static char *render_uadp(const struct lg_device_spec *s)
{
	char pub[96] = "", ptype[32] = "", wg[32] = "", w[40] = "", sec[40] = "", pol[48] = "";
	char rp[32] = "";

	if (s->publisher_id)
		snprintf(pub, sizeof(pub), "publisher_id: %s, ", s->publisher_id);
	if (s->publisher_type)
		snprintf(ptype, sizeof(ptype), "publisher_type: %s, ", s->publisher_type);
	if (s->writer_group)
		snprintf(wg, sizeof(wg), "writer_group: %u, ", s->writer_group);
	if (s->writer)
		snprintf(w, sizeof(w), "writer: %u", s->writer);
	else
		snprintf(w, sizeof(w), "writer_position: %u", s->writer_position);
	if (s->security)
		snprintf(sec, sizeof(sec), ", security: %s", s->security);
	if (s->security_policy)
		snprintf(pol, sizeof(pol), ", security_policy: %s", s->security_policy);
	if (s->replay)
		snprintf(rp, sizeof(rp), ", replay: %s", s->replay);
	return fmt("{%s%s%s%s%s%s%s}", pub, ptype, wg, w, sec, pol, rp);
}

/* The device's fields as flow or block YAML (block: each line indented by field, the
 * first one after "- " at dash). */
static char *render_device(const struct lg_device_spec *s, const char *key_file, bool flow,
			   unsigned dash, unsigned field)
{
	char port[32] = "", mac[40] = "", rate[48] = "", group[LG_NAME_MAX + 16] = "";
	char uadp[400] = "";
	const char *sep = flow ? ", " : "\n";
	int f = flow ? 0 : (int)field;

	if (s->uadp) {
		char *u = render_uadp(s);

		if (!u)
			return NULL;
		snprintf(uadp, sizeof(uadp), "%s%*suadp: %s", sep, f, "", u);
		free(u);
	}

	if (s->port >= 0)
		snprintf(port, sizeof(port), "%s%*sport: %d", sep, f, "", s->port);
	if (s->mac)
		snprintf(mac, sizeof(mac), "%s%*smac: %s", sep, f, "", s->mac);
	if (s->rate)
		snprintf(rate, sizeof(rate), "%s%*srate: %u", sep, f, "", s->rate);
	if (s->unscored) /* after the rate, in the same buffer: score: false */
		snprintf(rate + strlen(rate), sizeof(rate) - strlen(rate), "%s%*sscore: false",
			 sep, f, "");
	if (s->group)
		snprintf(group, sizeof(group), "%s%*sgroup: %s", sep, f, "", s->group);
	if (flow)
		return fmt("{id: %u, name: %s, source: %s%s%s%s%s%s, keys: [{id: 1, key_file: "
			   "%s}]}", s->id, s->name, s->source, port, mac, rate, group, uadp,
			   key_file);
	return fmt("%*s- %*sid: %u\n%*sname: %s\n%*ssource: %s%s%s%s%s%s\n%*skeys:\n"
		   "%*s- {id: 1, key_file: %s}\n",
		   (int)dash, "", (int)(field - dash - 2), "", s->id, f, "", s->name, f, "",
		   s->source, port, mac, rate, group, uadp, f, "", f + 2, "", key_file);
}

/* strict: the name goes into a key file's name, so it must be a plain one. */
static int fill_name(struct edoc *d, yaml_node_t *dev, uint32_t id, bool strict,
		     struct lg_policy_edit *out)
{
	const char *name = scalar(map_get(d, dev, "name", NULL));

	if (strict && name && !safe_word(name, sizeof(out->name)))
		return eerr(d, -EINVAL, "line %zu: device %u's name is not a plain name",
			    dev->start_mark.line + 1, id);
	if (name)
		snprintf(out->name, sizeof(out->name), "%s", name);
	else
		snprintf(out->name, sizeof(out->name), "device-%u", id);
	return 0;
}

int lg_policy_edit_enroll(const char *text, size_t len, const struct lg_device_spec *s,
			  const char *key_file, struct lg_policy_edit *out, char *err,
			  size_t errlen)
{
	struct edoc d;
	yaml_node_t *seq, *root;
	char kf[LG_PATH_MAX];
	int ret;

	memset(out, 0, sizeof(*out));
	ret = doc_load(&d, text, len, err, errlen);
	if (ret)
		return ret;
	ret = check_spec(&d, s);
	if (!ret)
		ret = devices_seq(&d, &seq);
	if (ret)
		goto out;
	if (!key_file) {
		/* keys/NAME-kN.key is where rotate-key puts device NAME's key N: a device
		 * named so would take that file (trial J, s21). */
		const char *k = strrchr(s->name, '-');
		size_t dig = k && k[1] == 'k' ? strspn(k + 2, "0123456789") : 0;

		if (dig && !k[2 + dig]) {
			ret = eerr(&d, -EINVAL,
				   "a device name ending in -k and a number (%s) is the name of "
				   "another device's rotated key file (keys/NAME-kN.key): choose "
				   "another name",
				   s->name);
			goto out;
		}
		snprintf(kf, sizeof(kf), "keys/%s.key", s->name);
		key_file = kf;
	}
	if (!safe_path(key_file)) {
		ret = eerr(&d, -EINVAL,
			   "a key file is a relative path of letters, digits, '.', "
			   "'_', '-' and '/' (no '..'): '%s'",
			   key_file);
		goto out;
	}
	for (size_t i = 0; seq && i < seq_len(seq); i++) {
		yaml_node_t *dev = seq_item(&d, seq, i);
		const char *name = scalar(map_get(&d, dev, "name", NULL));
		uint32_t id;

		if (!device_id(&d, dev, &id) && id == s->id) {
			ret = eerr(&d, -EEXIST, "device %u is already enrolled (line %zu)", id,
				   dev->start_mark.line + 1);
			goto out;
		}
		if (name && !strcmp(name, s->name)) {
			ret = eerr(&d, -EEXIST,
				   "a device named %s is already enrolled (line %zu): "
				   "names must differ, they name the key files",
				   name, dev->start_mark.line + 1);
			goto out;
		}
	}
	root = yaml_document_get_root_node(&d.doc);
	if (!seq) {
		/* No devices yet: a 'devices:' list at the end of the file. */
		size_t e = d.len;

		ret =
		    add_splice(&d, e, e, fmt("%sdevices:\n", !at_line_start(&d, e) ? "\n" : ""));
		if (!ret)
			ret = add_splice(&d, e, e, render_device(s, key_file, false, 2, 4));
	} else if (is_flow(&d, seq) && !seq_len(seq)) {
		/* devices: [] becomes a block list: "[]" goes, the entry follows its line. */
		size_t a = at_byte(&d, &seq->start_mark), b = at_byte(&d, &seq->end_mark);
		unsigned dash = (unsigned)root->start_mark.column + 2;

		size_t e = next_line(&d, b);
		char *block = render_device(s, key_file, false, dash, dash + 2);

		ret = block ? add_splice(&d, a, b, strdup("")) : -ENOMEM;
		if (!ret)
			ret = add_splice(
			    &d, e, e,
			    fmt("%s%s", e == d.len && !at_line_start(&d, e) ? "\n" : "",
				block));
		free(block);
	} else if (is_flow(&d, seq)) {
		char *flow = render_device(s, key_file, true, 0, 0);

		ret = flow ? seq_append(&d, seq, flow, NULL) : -ENOMEM;
		free(flow);
	} else {
		unsigned dash, field;
		char *block;

		block_columns(&d, seq, &dash, &field);
		block = render_device(s, key_file, false, dash, field);
		ret = block ? seq_append(&d, seq, NULL, block) : -ENOMEM;
		free(block);
	}
	if (!ret)
		ret = doc_render(&d, out, err, errlen);
	if (!ret) {
		snprintf(out->key_file, sizeof(out->key_file), "%s", key_file);
		snprintf(out->name, sizeof(out->name), "%s", s->name);
		out->key_id = 1;
	}
out:
	doc_free(&d);
	return ret;
}

static int note_removed(struct lg_policy_edit *out, const char *key_file)
{
	char **r = realloc(out->removed, (out->nremoved + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	out->removed = r;
	r[out->nremoved] = key_file ? strdup(key_file) : NULL;
	if (key_file && !r[out->nremoved])
		return -ENOMEM;
	out->nremoved++;
	return 0;
}

/* The start of an edit of one device: the document, the device's place in 'devices' and its
 * name into out. On failure everything is released and the error says why. */
static int open_device(struct edoc *d, const char *text, size_t len, uint32_t id, bool new_key,
		       struct lg_policy_edit *out, yaml_node_t **seq, size_t *i,
		       yaml_node_t **dev, char *err, size_t errlen)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = doc_load(d, text, len, err, errlen);
	if (ret)
		return ret;
	ret = find_device(d, id, seq, i);
	if (!ret) {
		*dev = seq_item(d, *seq, *i);
		ret = fill_name(d, *dev, id, new_key, out);
	}
	if (ret) {
		lg_policy_edit_free(out);
		doc_free(d);
	}
	return ret;
}

int lg_policy_edit_revoke(const char *text, size_t len, uint32_t id, struct lg_policy_edit *out,
			  char *err, size_t errlen)
{
	struct edoc d;
	yaml_node_t *seq, *key = NULL, *dev, *keys;
	size_t i;
	int ret;

	ret = open_device(&d, text, len, id, false, out, &seq, &i, &dev, err, errlen);
	if (ret)
		return ret;
	keys = map_get(&d, dev, "keys", NULL);
	for (size_t k = 0; !ret && keys && keys->type == YAML_SEQUENCE_NODE && k < seq_len(keys);
	     k++)
		ret =
		    note_removed(out, scalar(map_get(&d, seq_item(&d, keys, k), "key_file", NULL)));
	root_devices(&d, &key);
	if (!ret)
		ret = seq_remove(&d, seq, i, key);
	if (!ret)
		ret = doc_render(&d, out, err, errlen);
	if (ret)
		lg_policy_edit_free(out);
	doc_free(&d);
	return ret;
}

static int key_id_of(struct edoc *d, yaml_node_t *k, unsigned *id)
{
	const char *s = scalar(map_get(d, k, "id", NULL));
	char *end;
	unsigned long v;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > 255 || s[0] == '-')
		return -EINVAL;
	*id = (unsigned)v;
	return 0;
}

/* Set a mapping's 'expires' (replace its value, or add the field after the last one). */
static int set_expires(struct edoc *d, yaml_node_t *k, const char *when)
{
	yaml_node_t *v = map_get(d, k, "expires", NULL);

	if (v && v->type == YAML_SCALAR_NODE)
		return add_splice(d, at_byte(d, &v->start_mark), content_end(d, v), strdup(when));
	if (v)
		return eerr(d, -EINVAL, "line %zu: 'expires' is not a time",
			    v->start_mark.line + 1);
	if (is_flow(d, k)) {
		size_t e = content_end(d, nd(d, (k->data.mapping.pairs.top - 1)->value));

		return add_splice(d, e, e, fmt(", expires: %s", when));
	}
	size_t e = next_line(d, content_end(d, k));

	return add_splice(d, e, e,
			  fmt("%s%*sexpires: %s\n", !at_line_start(d, e) ? "\n" : "",
			      (int)k->start_mark.column, "", when));
}

int lg_policy_edit_rotate(const char *text, size_t len, uint32_t id, time_t expires,
			  struct lg_policy_edit *out, char *err, size_t errlen)
{
	struct edoc d;
	yaml_node_t *seq, *dev, *keys, *old;
	char when[32];
	unsigned old_id, new_id;
	size_t i;
	int ret;

	ret = open_device(&d, text, len, id, true, out, &seq, &i, &dev, err, errlen);
	if (ret)
		return ret;
	keys = map_get(&d, dev, "keys", NULL);
	if (!keys || keys->type != YAML_SEQUENCE_NODE || !seq_len(keys)) {
		ret = eerr(&d, -EINVAL, "line %zu: device %u has no list of keys",
			   dev->start_mark.line + 1, id);
		goto out;
	}
	if (seq_len(keys) > 1) {
		const char *exp = NULL;

		for (size_t k = 0; k < seq_len(keys) && !exp; k++)
			exp = scalar(map_get(&d, seq_item(&d, keys, k), "expires", NULL));
		ret =
		    eerr(&d, -EBUSY,
			 "device %u is already rotating (two keys%s%s): rotate again "
			 "once the old key has expired and 'linegatectl devices prune' dropped it",
			 id, exp ? ", one expires " : "", exp ? exp : "");
		goto out;
	}
	old = seq_item(&d, keys, 0);
	if (old->type != YAML_MAPPING_NODE || key_id_of(&d, old, &old_id)) {
		ret = eerr(&d, -EINVAL, "line %zu: device %u's key has no id 0..255",
			   old->start_mark.line + 1, id);
		goto out;
	}
	new_id = old_id >= 255 ? 1 : old_id + 1;
	snprintf(out->key_file, sizeof(out->key_file), "keys/%s-k%u.key", out->name, new_id);
	out->key_id = (uint8_t)new_id;
	lg_rfc3339(expires, when, sizeof(when));
	{
		/* An old key that expires sooner keeps its time: a rotation never gives an
		 * expired key (a device whose only key ran out) back a grace period (trial J,
		 * s21). */
		const char *had = scalar(map_get(&d, old, "expires", NULL));
		int64_t t;

		if (had && !lg_time_parse_utc(had, &t) && t <= (int64_t)expires)
			snprintf(when, sizeof(when), "%s", had);
	}
	ret = set_expires(&d, old, when);
	if (!ret) {
		char *flow = fmt("{id: %u, key_file: %s}", new_id, out->key_file), *block = NULL;

		if (flow && !is_flow(&d, keys)) {
			unsigned dash, field;

			block_columns(&d, keys, &dash, &field);
			block = fmt("%*s- %s\n", (int)dash, "", flow);
		}
		ret = flow && (block || is_flow(&d, keys)) ? seq_append(&d, keys, flow, block)
							   : -ENOMEM;
		free(flow);
		free(block);
	}
	if (!ret)
		ret = doc_render(&d, out, err, errlen);
out:
	if (ret)
		lg_policy_edit_free(out);
	doc_free(&d);
	return ret;
}

int lg_policy_edit_prune(const char *text, size_t len, uint32_t id, time_t now,
			 struct lg_policy_edit *out, char *err, size_t errlen)
{
	struct edoc d;
	yaml_node_t *seq;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = doc_load(&d, text, len, err, errlen);
	if (ret)
		return ret;
	ret = devices_seq(&d, &seq);
	for (size_t i = 0; !ret && seq && i < seq_len(seq); i++) {
		yaml_node_t *dev = seq_item(&d, seq, i), *kseq, *kkey = NULL;
		size_t nk, left;
		uint32_t did;

		if (device_id(&d, dev, &did) || (id && did != id))
			continue;
		kseq = map_get(&d, dev, "keys", &kkey);
		if (!kseq || kseq->type != YAML_SEQUENCE_NODE)
			continue;
		nk = left = seq_len(kseq);
		if (nk > 2) {
			ret = eerr(&d, -EINVAL, "line %zu: device %u has %zu keys, at most two",
				   kseq->start_mark.line + 1, did, nk);
			break;
		}
		for (size_t k = 0; !ret && k < nk; k++) {
			yaml_node_t *key = seq_item(&d, kseq, k);
			const char *exp = scalar(map_get(&d, key, "expires", NULL));
			int64_t t;

			if (!exp || left == 1)
				continue;
			if (lg_time_parse_utc(exp, &t)) {
				ret = eerr(&d, -EINVAL,
					   "line %zu: 'expires: %s' is not an RFC 3339 time",
					   key->start_mark.line + 1, exp);
				break;
			}
			if (t > now)
				continue;
			ret = note_removed(out, scalar(map_get(&d, key, "key_file", NULL)));
			if (!ret)
				ret = seq_remove(&d, kseq, k, kkey);
			left--;
		}
	}
	if (!ret)
		ret = doc_render(&d, out, err, errlen);
	if (ret)
		lg_policy_edit_free(out);
	doc_free(&d);
	return ret;
}

void lg_policy_edit_free(struct lg_policy_edit *e)
{
	if (!e)
		return;
	free(e->text);
	for (unsigned i = 0; i < e->nremoved; i++)
		free(e->removed[i]);
	free(e->removed);
	e->text = NULL;
	e->removed = NULL;
	e->nremoved = 0;
}

int lg_policy_edit_check(const char *text, size_t len, const char *path, bool new_key,
			 char *err, size_t errlen)
{
	struct lg_policy p;
	char shared[400];
	int ret = lg_policy_parse(text, len, path, &p, err, errlen);

	if (ret)
		return ret;
	/* A new key (enroll, rotate-key) must not be another device's: a key file of that
	 * name may already be there (trial J, s21). */
	if (new_key && lg_policy_shared_key(&p, shared, sizeof(shared)) == 1) {
		snprintf(err, errlen, "%s: %s", path, shared);
		ret = -EEXIST;
	}
	lg_policy_free(&p);
	return ret;
}

/* The policy's folder + '/' + rel. */
static int beside(const char *policy_path, const char *rel, char *out, size_t len)
{
	const char *slash = strrchr(policy_path, '/');
	int n = slash ? snprintf(out, len, "%.*s/%s", (int)(slash - policy_path), policy_path, rel)
		      : snprintf(out, len, "%s", rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int lg_key_file_create(const char *policy_path, const char *rel, size_t nbytes,
		       char fp[LG_KEY_FP_LEN + 1], char *err, size_t errlen)
{
	enum { MAX = LG_KEY_LEN + LG_UADP_ENC_KEY_MAX + LG_UADP_KEY_NONCE_LEN };
	char path[PATH_MAX], hex[2 * MAX + 2];
	uint8_t key[MAX];

	if (nbytes != LG_KEY_LEN && nbytes != LG_KEY_LEN + 16 + LG_UADP_KEY_NONCE_LEN &&
	    nbytes != MAX) {
		snprintf(err, errlen, "a key of %zu bytes is no key linegate reads", nbytes);
		return -EINVAL;
	}
	int fd, ret = 0;
	char *slash;

	if (!safe_path(rel) || beside(policy_path, rel, path, sizeof(path))) {
		snprintf(err, errlen, "%s: not a key file name beside the policy", rel);
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium would not start");
		return -EIO;
	}
	/* Make the key's folders (keys/ beside the policy) for the owner only. */
	for (slash = strchr(path + strlen(path) - strlen(rel), '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0700) && errno != EEXIST) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
			return ret;
		}
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(-ret),
			 ret == -EEXIST
			     ? " (a key file is never overwritten: another device, or a "
			       "version in the policy's history, may hold it as its key; "
			       "remove it only if none does)"
			     : "");
		return ret;
	}
	randombytes_buf(key, nbytes);
	lg_hex_encode(key, nbytes, hex);
	hex[2 * nbytes] = '\n';
	hex[2 * nbytes + 1] = '\0';
	lg_key_fingerprint(key, nbytes, fp);
	sodium_memzero(key, sizeof(key));
	/* open() honours the umask: make the mode exactly what the parser demands. */
	errno = 0;
	if (fchmod(fd, 0600) || write(fd, hex, 2 * nbytes + 1) != (ssize_t)(2 * nbytes + 1) ||
	    fsync(fd))
		ret = errno ? -errno : -EIO;
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) && !ret)
		ret = -errno;
	if (ret) {
		unlink(path);
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	}
	return ret;
}

int lg_key_file_remove(const char *policy_path, const char *rel)
{
	char path[PATH_MAX];

	if (!safe_path(rel) || beside(policy_path, rel, path, sizeof(path)))
		return -EINVAL;
	return unlink(path) ? -errno : 0;
}

void lg_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lg_duration_parse(const char *s, time_t *out)
{
	char *end;
	unsigned long long v;
	unsigned long mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (!strcmp(end, "s") || !*end)
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else
		return -EINVAL;
	if (v > 366ull * 86400 / mul)
		return -EINVAL;
	*out = (time_t)(v * mul);
	return 0;
}

int lg_file_replace(const char *path, const char *text, size_t len)
{
	char real[PATH_MAX];
	struct stat st;
	mode_t mode = 0600;

	/* A policy reached through a symlink: replace the file it points to, keep the link. */
	if (!lstat(path, &st) && S_ISLNK(st.st_mode) && realpath(path, real))
		path = real;
	if (!stat(path, &st))
		mode = st.st_mode & 07777;
	return lg_write_file_atomic(path, text, len, (int)mode);
}
