/* SPDX-License-Identifier: MIT */
/*
 * ONNX importer: decodes a ModelProto with protobuf-c, walks the graph once in its
 * (topological) node order and compiles it into the plan of model_internal.h.
 *
 * Values are either constants (initializers, Constant nodes, and what shape operators make of
 * them) or the one runtime activation, a [batch, d1, ..., dk] tensor stored row-major with
 * F = d1 * ... * dk floats per row. Shape operators on the activation only relabel those F
 * floats; MatMul/Gemm open a new layer; element-wise operators and Softmax are appended to the
 * open layer's epilogue, so a Gemm + bias + activation becomes one sgemm and one pass.
 *
 * Everything in the file is untrusted: every count, dimension and index is checked before use,
 * and failures say which node and operator they concern.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "model_internal.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian; add byte swapping before building for a big-endian host"
#endif

#define MAX_RANK 8
#define MAX_NODES 4096
#define MAX_VALUES 16384
#define MAX_OPS_PER_LAYER 64
#define MAX_FILE (512u << 20)

enum val_kind { V_ACT, V_FLOAT, V_INT64, V_OTHER };

struct val {
	const char *name;
	enum val_kind kind;
	int rank;
	int64_t dims[MAX_RANK]; /* for V_ACT, dims[0] is the (dynamic) batch and is unused */
	size_t numel;		/* constants: elements; V_ACT: floats per row */
	float *f;
	int64_t *i;
	unsigned gen; /* V_ACT: which activation this is; only the newest may be consumed */
	int dtype;    /* V_OTHER: the ONNX data type, for the error message */
};

struct imp {
	struct lg_model *m;
	char *err;
	size_t errlen;
	int64_t opset;
	struct val *vals;
	size_t n_vals, cap_vals;
	size_t cap_layers;
	int open; /* the last layer still takes epilogue ops */
	unsigned cur_gen;
	const Onnx__NodeProto *node; /* being compiled, for error messages */
	size_t node_idx;
};

static const char *s_or_empty(const char *s)
{
	return s ? s : "";
}

__attribute__((format(printf, 3, 4))) static int fail(struct imp *st, int ret, const char *fmt, ...)
{
	size_t off = 0;
	va_list ap;
	int n;

	if (!st->err || !st->errlen)
		return ret;
	st->err[0] = '\0';
	if (st->node) {
		const char *name = s_or_empty(st->node->name);

		if (*name)
			n = snprintf(st->err, st->errlen, "node \"%s\" (%s): ", name,
				     s_or_empty(st->node->op_type));
		else
			n = snprintf(st->err, st->errlen, "node #%zu (%s): ", st->node_idx,
				     s_or_empty(st->node->op_type));
		if (n > 0)
			off = (size_t)n < st->errlen ? (size_t)n : st->errlen - 1;
	}
	va_start(ap, fmt);
	vsnprintf(st->err + off, st->errlen - off, fmt, ap);
	va_end(ap);
	return ret;
}

/* ---- values ---------------------------------------------------------------------------- */

static struct val *find_val(struct imp *st, const char *name)
{
	if (!name || !*name)
		return NULL;
	/* newest first: a later definition of a name shadows an earlier one */
	for (size_t i = st->n_vals; i-- > 0;)
		if (!strcmp(st->vals[i].name, name))
			return &st->vals[i];
	return NULL;
}

/* Returns a zeroed value named `name`; pointers to other values stay valid until the next call. */
static struct val *add_val(struct imp *st, const char *name)
{
	struct val *v;

	if (st->n_vals == st->cap_vals) {
		size_t cap = st->cap_vals ? st->cap_vals * 2 : 64;

		if (cap > MAX_VALUES)
			return NULL;
		v = realloc(st->vals, cap * sizeof(*v));
		if (!v)
			return NULL;
		st->vals = v;
		st->cap_vals = cap;
	}
	v = &st->vals[st->n_vals++];
	memset(v, 0, sizeof(*v));
	v->name = s_or_empty(name);
	return v;
}

static int dims_numel(struct imp *st, const int64_t *dims, size_t n, size_t *numel)
{
	size_t p = 1;

	for (size_t i = 0; i < n; i++) {
		if (dims[i] < 0 || (uint64_t)dims[i] > MODEL_MAX_ELEMS)
			return fail(st, -EINVAL, "dimension %zu is %lld", i, (long long)dims[i]);
		p *= (size_t)dims[i];
		if (p > MODEL_MAX_ELEMS)
			return fail(st, -EOPNOTSUPP, "tensor larger than %u elements",
				    MODEL_MAX_ELEMS);
	}
	*numel = p;
	return 0;
}

/* Decode a TensorProto into constant `v` (whose name is already set). */
static int load_tensor(struct imp *st, const Onnx__TensorProto *t, struct val *v)
{
	size_t numel = 0, have;
	int ret;

	if (t->n_dims > MAX_RANK)
		return fail(st, -EOPNOTSUPP, "tensor \"%s\" has rank %zu (max %d)", v->name,
			    t->n_dims, MAX_RANK);
	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return fail(st, -EOPNOTSUPP, "tensor \"%s\": external data is not supported",
			    v->name);
	if (t->segment)
		return fail(st, -EOPNOTSUPP, "tensor \"%s\": segments are not supported", v->name);
	ret = dims_numel(st, t->dims, t->n_dims, &numel);
	if (ret)
		return ret;
	v->rank = (int)t->n_dims;
	if (t->n_dims) /* a scalar has no dims array at all */
		memcpy(v->dims, t->dims, t->n_dims * sizeof(*t->dims));
	v->numel = numel;

	switch (t->data_type) {
	case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
		v->kind = V_FLOAT;
		have = t->has_raw_data ? t->raw_data.len / 4 : t->n_float_data;
		if (have != numel || (t->has_raw_data && t->raw_data.len % 4))
			return fail(st, -EINVAL, "tensor \"%s\": %zu values for %zu elements",
				    v->name, have, numel);
		v->f = model_alloc(st->m, numel * sizeof(float));
		if (!v->f)
			return fail(st, -ENOMEM, "out of memory");
		if (numel)
			memcpy(v->f,
			       t->has_raw_data ? (const void *)t->raw_data.data : t->float_data,
			       numel * sizeof(float));
		return 0;
	case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
		v->kind = V_INT64;
		have = t->has_raw_data ? t->raw_data.len / 8 : t->n_int64_data;
		if (have != numel || (t->has_raw_data && t->raw_data.len % 8))
			return fail(st, -EINVAL, "tensor \"%s\": %zu values for %zu elements",
				    v->name, have, numel);
		v->i = model_alloc(st->m, numel * sizeof(int64_t));
		if (!v->i)
			return fail(st, -ENOMEM, "out of memory");
		if (numel)
			memcpy(v->i,
			       t->has_raw_data ? (const void *)t->raw_data.data : t->int64_data,
			       numel * sizeof(int64_t));
		return 0;
	default:
		/* kept so that an unused initializer of another type does not fail the model */
		v->kind = V_OTHER;
		v->dtype = t->data_type;
		return 0;
	}
}

/* ---- node helpers ----------------------------------------------------------------------- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i] && !strcmp(s_or_empty(n->attribute[i]->name), name))
			return n->attribute[i];
	return NULL;
}

/* Rejects attributes the compiler would otherwise silently ignore. */
static int check_attrs(struct imp *st, const Onnx__NodeProto *n, const char *const *known)
{
	for (size_t i = 0; i < n->n_attribute; i++) {
		const char *name = n->attribute[i] ? s_or_empty(n->attribute[i]->name) : "";
		size_t k;

		for (k = 0; known && known[k]; k++)
			if (!strcmp(name, known[k]))
				break;
		if (!known || !known[k])
			return fail(st, -EOPNOTSUPP, "unsupported attribute \"%s\"", name);
	}
	return 0;
}

static int attr_int(struct imp *st, const Onnx__NodeProto *n, const char *name, int64_t def,
		    int64_t *out)
{
	const Onnx__AttributeProto *a = attr(n, name);

	*out = def;
	if (!a)
		return 0;
	if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
		return fail(st, -EINVAL, "attribute \"%s\" is not an int", name);
	*out = a->i;
	return 0;
}

static int attr_float(struct imp *st, const Onnx__NodeProto *n, const char *name, float def,
		      float *out)
{
	const Onnx__AttributeProto *a = attr(n, name);

	*out = def;
	if (!a)
		return 0;
	if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
		return fail(st, -EINVAL, "attribute \"%s\" is not a float", name);
	*out = a->f;
	return 0;
}

/* Input `idx` of the node; NULL (with the error set) if absent or undefined. */
static struct val *input(struct imp *st, const Onnx__NodeProto *n, size_t idx, int *ret)
{
	const char *name = idx < n->n_input ? s_or_empty(n->input[idx]) : "";
	struct val *v;

	if (!*name) {
		*ret = fail(st, -EINVAL, "input %zu is missing", idx);
		return NULL;
	}
	v = find_val(st, name);
	if (!v) {
		*ret = fail(st, -EINVAL, "input \"%s\" is not defined before use", name);
		return NULL;
	}
	return v;
}

static int need_inputs(struct imp *st, const Onnx__NodeProto *n, size_t lo, size_t hi)
{
	if (n->n_input < lo || n->n_input > hi)
		return fail(st, -EINVAL, "has %zu inputs, expected %zu..%zu", n->n_input, lo, hi);
	return 0;
}

/* The runtime activation may only be consumed while it is the newest one: a chain. */
static int check_act(struct imp *st, const struct val *v)
{
	if (v->kind != V_ACT)
		return fail(st, -EOPNOTSUPP, "input \"%s\" must be the runtime activation",
			    v->name);
	if (v->gen != st->cur_gen)
		return fail(st, -EOPNOTSUPP,
			    "input \"%s\" is consumed again after a later layer (only chains of "
			    "layers are supported)",
			    v->name);
	return 0;
}

static int check_float(struct imp *st, const struct val *v)
{
	if (v->kind == V_FLOAT)
		return 0;
	if (v->kind == V_OTHER)
		return fail(st, -EOPNOTSUPP, "constant \"%s\" has unsupported data type %d",
			    v->name, v->dtype);
	return fail(st, -EOPNOTSUPP, "input \"%s\" must be a float constant", v->name);
}

/* Defines the node's single output as a copy of `like` (shape, kind, data pointers). */
static struct val *define_out(struct imp *st, const Onnx__NodeProto *n, const struct val *like,
			      int *ret)
{
	struct val tmp = *like, *v;

	v = add_val(st, n->output[0]);
	if (!v) {
		*ret = fail(st, -ENOMEM, "too many values");
		return NULL;
	}
	tmp.name = v->name;
	*v = tmp;
	return v;
}

/* ---- layers ----------------------------------------------------------------------------- */

static struct model_layer *new_layer(struct imp *st)
{
	struct lg_model *m = st->m;
	struct model_layer *l;

	if (m->n_layers == st->cap_layers) {
		size_t cap = st->cap_layers ? st->cap_layers * 2 : 8;

		l = realloc(m->layers, cap * sizeof(*l));
		if (!l)
			return NULL;
		m->layers = l;
		st->cap_layers = cap;
	}
	l = &m->layers[m->n_layers++];
	memset(l, 0, sizeof(*l));
	st->open = 1;
	return l;
}

static int push_op(struct imp *st, const struct val *act, const struct epi_op *op)
{
	struct model_layer *l;
	struct epi_op *ops;

	if (!st->open) {
		/* an element-wise op on the graph input: a layer with no gemm */
		l = new_layer(st);
		if (!l)
			return fail(st, -ENOMEM, "out of memory");
		l->k = l->n = act->numel;
	}
	l = &st->m->layers[st->m->n_layers - 1];
	if (l->n_ops >= MAX_OPS_PER_LAYER)
		return fail(st, -EOPNOTSUPP, "more than %d element-wise operators in one layer",
			    MAX_OPS_PER_LAYER);
	ops = realloc(l->ops, (l->n_ops + 1) * sizeof(*ops));
	if (!ops)
		return fail(st, -ENOMEM, "out of memory");
	ops[l->n_ops++] = *op;
	l->ops = ops;
	return 0;
}

/*
 * Expand constant `c` to one row of `act` by ONNX (numpy) broadcasting. Only the shapes that
 * leave the activation's shape unchanged are accepted: c's batch axis, if it has one, is 1.
 */
static int expand_row(struct imp *st, const struct val *c, const struct val *act, float scale,
		      float **out)
{
	size_t stride[MAX_RANK];
	int ar = act->rank, cr = c->rank;
	size_t s = 1;
	float *row;

	if (cr > ar)
		return fail(st, -EOPNOTSUPP,
			    "constant \"%s\" has rank %d above the activation's %d", c->name, cr,
			    ar);
	for (int a = ar - 1; a >= 0; a--) {
		int ca = a - (ar - cr);
		int64_t cd = ca >= 0 ? c->dims[ca] : 1;

		if (a == 0 && cd != 1)
			return fail(st, -EOPNOTSUPP, "constant \"%s\" varies along the batch axis",
				    c->name);
		if (a > 0 && cd != 1 && cd != act->dims[a])
			return fail(st, -EINVAL,
				    "constant \"%s\" dimension %lld does not broadcast to %lld",
				    c->name, (long long)cd, (long long)act->dims[a]);
		stride[a] = cd == 1 ? 0 : s;
		s *= (size_t)cd;
	}
	row = model_alloc(st->m, act->numel * sizeof(float));
	if (!row)
		return fail(st, -ENOMEM, "out of memory");
	for (size_t f = 0; f < act->numel; f++) {
		size_t rem = f, idx = 0;

		for (int a = ar - 1; a >= 1; a--) {
			size_t d = (size_t)act->dims[a];

			idx += (rem % d) * stride[a];
			rem /= d;
		}
		row[f] = scale * c->f[idx];
	}
	*out = row;
	return 0;
}

static struct val *new_act(struct imp *st, const Onnx__NodeProto *n, const struct val *like,
			   int *ret)
{
	struct val *v = define_out(st, n, like, ret);

	if (v) {
		v->kind = V_ACT;
		v->gen = ++st->cur_gen;
	}
	return v;
}

/* ---- operators -------------------------------------------------------------------------- */

static int gemm_layer(struct imp *st, const Onnx__NodeProto *n, struct val *a, struct val *b,
		      int trans_b, float alpha, struct val **out)
{
	struct model_layer *l;
	struct val tmp;
	int64_t k, kb, nn;
	int ret = 0;

	if ((ret = check_act(st, a)) || (ret = check_float(st, b)))
		return ret;
	if (a->rank != 2)
		return fail(st, -EOPNOTSUPP, "input \"%s\" has rank %d; flatten it to 2 first",
			    a->name, a->rank);
	if (b->rank != 2)
		return fail(st, -EOPNOTSUPP, "weight \"%s\" has rank %d, expected 2", b->name,
			    b->rank);
	k = a->dims[1];
	kb = trans_b ? b->dims[1] : b->dims[0];
	nn = trans_b ? b->dims[0] : b->dims[1];
	if (kb != k)
		return fail(st, -EINVAL, "inner dimensions differ: %lld vs %lld", (long long)k,
			    (long long)kb);
	if (nn <= 0 || nn > MODEL_MAX_DIM)
		return fail(st, -EOPNOTSUPP, "output width %lld out of range", (long long)nn);
	l = new_layer(st);
	if (!l)
		return fail(st, -ENOMEM, "out of memory");
	l->has_gemm = 1;
	l->k = (size_t)k;
	l->n = (size_t)nn;
	l->alpha = alpha;
	l->w = b->f;
	if (trans_b) {
		/*
		 * Keep every weight k x n: OpenBLAS 0.3.21's sgemm runs 1.2-2.5x faster on
		 * it than on the n x k transposed form at batches of 16-256 (docs/
		 * benchmarks-inference.md), and sgemv is no slower. One copy, at load.
		 */
		float *w = model_alloc(st->m, (size_t)k * (size_t)nn * sizeof(float));

		if (!w)
			return fail(st, -ENOMEM, "out of memory");
		for (size_t r = 0; r < (size_t)nn; r++)
			for (size_t c = 0; c < (size_t)k; c++)
				w[c * (size_t)nn + r] = b->f[r * (size_t)k + c];
		l->w = w;
	}
	tmp = *a;
	tmp.dims[1] = nn;
	tmp.numel = (size_t)nn;
	*out = new_act(st, n, &tmp, &ret);
	return ret;
}

static int op_gemm(struct imp *st, const Onnx__NodeProto *n)
{
	static const char *const known[] = {"alpha", "beta", "transA", "transB", NULL};
	struct epi_op op = {.kind = EPI_ADD};
	struct val *a, *b, *c = NULL, *y, cval;
	float *row;
	int64_t ta, tb;
	float alpha, beta;
	int ret = 0;

	if ((ret = need_inputs(st, n, 2, 3)) || (ret = check_attrs(st, n, known)) ||
	    (ret = attr_int(st, n, "transA", 0, &ta)) ||
	    (ret = attr_int(st, n, "transB", 0, &tb)) ||
	    (ret = attr_float(st, n, "alpha", 1.0f, &alpha)) ||
	    (ret = attr_float(st, n, "beta", 1.0f, &beta)))
		return ret;
	if (ta)
		return fail(st, -EOPNOTSUPP, "transA=1 on the batch input is not supported");
	if (!(a = input(st, n, 0, &ret)) || !(b = input(st, n, 1, &ret)))
		return ret;
	if (n->n_input > 2 && *s_or_empty(n->input[2])) {
		if (!(c = input(st, n, 2, &ret)))
			return ret;
		if ((ret = check_float(st, c)))
			return ret;
		/* defining y below may move the value table (or shadow c's name): keep a copy */
		cval = *c;
	}
	ret = gemm_layer(st, n, a, b, tb != 0, alpha, &y);
	if (ret || !c || beta == 0.0f)
		return ret;
	/* beta * C is folded into the bias row here, so the epilogue only adds */
	ret = expand_row(st, &cval, y, beta, &row);
	if (ret)
		return ret;
	op.vec = row;
	return push_op(st, y, &op);
}

static int op_matmul(struct imp *st, const Onnx__NodeProto *n)
{
	struct val *a, *b, *y;
	int ret = 0;

	if ((ret = need_inputs(st, n, 2, 2)) || (ret = check_attrs(st, n, NULL)))
		return ret;
	if (!(a = input(st, n, 0, &ret)) || !(b = input(st, n, 1, &ret)))
		return ret;
	if (a->kind != V_ACT)
		return fail(st, -EOPNOTSUPP, "constant on the left of the activation");
	return gemm_layer(st, n, a, b, 0, 1.0f, &y);
}

static int op_binary(struct imp *st, const Onnx__NodeProto *n, const char *op_type)
{
	struct val *x0, *x1, *act, *c, *y;
	struct epi_op op = {0};
	int swapped, ret = 0;
	float *row;

	if ((ret = need_inputs(st, n, 2, 2)) || (ret = check_attrs(st, n, NULL)))
		return ret;
	if (!(x0 = input(st, n, 0, &ret)) || !(x1 = input(st, n, 1, &ret)))
		return ret;
	if (x0->kind == V_ACT && x1->kind == V_ACT)
		return fail(st, -EOPNOTSUPP, "both inputs are runtime tensors");
	if (x0->kind != V_ACT && x1->kind != V_ACT)
		return fail(st, -EOPNOTSUPP, "constant folding is not supported");
	swapped = x1->kind == V_ACT;
	act = swapped ? x1 : x0;
	c = swapped ? x0 : x1;
	if ((ret = check_act(st, act)) || (ret = check_float(st, c)))
		return ret;
	if (!strcmp(op_type, "Add"))
		op.kind = EPI_ADD;
	else if (!strcmp(op_type, "Mul"))
		op.kind = EPI_MUL;
	else if (!strcmp(op_type, "Sub"))
		op.kind = swapped ? EPI_RSUB : EPI_SUB;
	else
		op.kind = swapped ? EPI_RDIV : EPI_DIV;
	ret = expand_row(st, c, act, 1.0f, &row);
	if (ret)
		return ret;
	op.vec = row;
	ret = push_op(st, act, &op);
	if (ret)
		return ret;
	y = new_act(st, n, act, &ret);
	(void)y;
	return ret;
}

static int op_unary(struct imp *st, const Onnx__NodeProto *n, enum epi_kind kind)
{
	static const char *const leaky[] = {"alpha", NULL};
	struct epi_op op = {.kind = kind};
	struct val *x, *y;
	int ret = 0;

	if ((ret = need_inputs(st, n, 1, 1)) ||
	    (ret = check_attrs(st, n, kind == EPI_LEAKY ? leaky : NULL)))
		return ret;
	if (kind == EPI_LEAKY && (ret = attr_float(st, n, "alpha", 0.01f, &op.alpha)))
		return ret;
	if (!(x = input(st, n, 0, &ret)))
		return ret;
	if ((ret = check_act(st, x)) || (ret = push_op(st, x, &op)))
		return ret;
	y = new_act(st, n, x, &ret);
	(void)y;
	return ret;
}

static int op_softmax(struct imp *st, const Onnx__NodeProto *n)
{
	static const char *const known[] = {"axis", NULL};
	struct epi_op op = {.kind = EPI_SOFTMAX};
	size_t inner = 1, group = 1;
	struct val *x, *y;
	int64_t axis;
	int ret = 0;

	if ((ret = need_inputs(st, n, 1, 1)) || (ret = check_attrs(st, n, known)) ||
	    (ret = attr_int(st, n, "axis", st->opset < 13 ? 1 : -1, &axis)))
		return ret;
	if (!(x = input(st, n, 0, &ret)))
		return ret;
	if ((ret = check_act(st, x)))
		return ret;
	if (axis < 0)
		axis += x->rank;
	if (axis < 0 || axis >= x->rank)
		return fail(st, -EINVAL, "axis out of range for rank %d", x->rank);
	if (axis == 0)
		return fail(st, -EOPNOTSUPP, "softmax across the batch axis is not supported");
	for (int a = (int)axis + 1; a < x->rank; a++)
		inner *= (size_t)x->dims[a];
	if (st->opset < 13) {
		/* before opset 13 the input was coerced to 2D at `axis`: one group per tail */
		group = inner * (size_t)x->dims[axis];
	} else {
		if (inner != 1)
			return fail(st, -EOPNOTSUPP, "softmax over a non-innermost axis");
		group = (size_t)x->dims[axis];
	}
	if (!group)
		return fail(st, -EINVAL, "softmax over an empty axis");
	op.group = group;
	if ((ret = push_op(st, x, &op)))
		return ret;
	y = new_act(st, n, x, &ret);
	(void)y;
	return ret;
}

/*
 * Inference-mode BatchNormalization: y = (x - mean) * scale / sqrt(var + eps) + B per channel
 * (axis 1), as three epilogue ops in the same order of operations as the reference. The
 * channel vectors are broadcast over any spatial axes like a [C, 1, ..., 1] constant.
 */
static int op_batchnorm(struct imp *st, const Onnx__NodeProto *n)
{
	static const char *const known[] = {"epsilon", "momentum", "training_mode", "spatial",
					    NULL};
	struct epi_op ops[3] = {{.kind = EPI_SUB}, {.kind = EPI_MUL}, {.kind = EPI_ADD}};
	struct val *x, *p[4], chan, tmp;
	int64_t training, spatial;
	float eps, *rows[3];
	size_t c;
	int ret = 0;

	if ((ret = need_inputs(st, n, 5, 5)) || (ret = check_attrs(st, n, known)) ||
	    (ret = attr_float(st, n, "epsilon", 1e-5f, &eps)) ||
	    (ret = attr_int(st, n, "training_mode", 0, &training)) ||
	    (ret = attr_int(st, n, "spatial", 1, &spatial)))
		return ret;
	if (training)
		return fail(st, -EOPNOTSUPP, "training_mode=1 is not inference");
	if (!spatial)
		return fail(st, -EOPNOTSUPP, "spatial=0 is not supported");
	if (!(x = input(st, n, 0, &ret)))
		return ret;
	if ((ret = check_act(st, x)))
		return ret;
	if (x->rank < 2)
		return fail(st, -EOPNOTSUPP, "input \"%s\" has no channel axis", x->name);
	c = (size_t)x->dims[1];
	for (size_t i = 0; i < 4; i++) {
		if (!(p[i] = input(st, n, i + 1, &ret)) || (ret = check_float(st, p[i])))
			return ret;
		if (p[i]->numel != c)
			return fail(st, -EINVAL, "\"%s\" has %zu values for %zu channels",
				    p[i]->name, p[i]->numel, c);
	}
	/* scale / sqrt(var + eps), in double, as one per-channel factor */
	memset(&chan, 0, sizeof(chan));
	chan.name = p[0]->name;
	chan.kind = V_FLOAT;
	chan.rank = x->rank - 1;
	chan.dims[0] = (int64_t)c;
	for (int a = 1; a < chan.rank; a++)
		chan.dims[a] = 1;
	chan.numel = c;
	chan.f = model_alloc(st->m, c * sizeof(float));
	if (!chan.f)
		return fail(st, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c; i++)
		chan.f[i] = (float)((double)p[0]->f[i] / sqrt((double)p[3]->f[i] + (double)eps));
	tmp = chan;
	tmp.f = p[2]->f; /* mean */
	if ((ret = expand_row(st, &tmp, x, 1.0f, &rows[0])) ||
	    (ret = expand_row(st, &chan, x, 1.0f, &rows[1])))
		return ret;
	tmp.f = p[1]->f; /* B */
	if ((ret = expand_row(st, &tmp, x, 1.0f, &rows[2])))
		return ret;
	for (size_t i = 0; i < 3; i++) {
		ops[i].vec = rows[i];
		if ((ret = push_op(st, x, &ops[i])))
			return ret;
	}
	new_act(st, n, x, &ret);
	return ret;
}

/* Dropout at inference is the identity; a graph that asks for training mode is refused. */
static int op_dropout(struct imp *st, const Onnx__NodeProto *n)
{
	static const char *const known[] = {"ratio", "seed", "is_test", NULL};
	struct val *x;
	int ret = 0;

	if ((ret = need_inputs(st, n, 1, 3)) || (ret = check_attrs(st, n, known)))
		return ret;
	if (n->n_input == 3 && *s_or_empty(n->input[2]))
		return fail(st, -EOPNOTSUPP, "a training_mode input is not supported");
	if (!(x = input(st, n, 0, &ret)))
		return ret;
	if (x->kind == V_ACT && (ret = check_act(st, x)))
		return ret;
	define_out(st, n, x, &ret);
	return ret;
}

static int op_identity(struct imp *st, const Onnx__NodeProto *n)
{
	struct val *x;
	int ret = 0;

	if ((ret = need_inputs(st, n, 1, 1)) || (ret = check_attrs(st, n, NULL)))
		return ret;
	if (!(x = input(st, n, 0, &ret)))
		return ret;
	if (x->kind == V_ACT && (ret = check_act(st, x)))
		return ret;
	/* an alias: same data, same generation */
	define_out(st, n, x, &ret);
	return ret;
}

static int set_shape(struct imp *st, struct val *v, const int64_t *dims, int rank)
{
	size_t numel = 1;

	for (int i = v->kind == V_ACT ? 1 : 0; i < rank; i++)
		numel *= (size_t)dims[i];
	v->rank = rank;
	memcpy(v->dims, dims, (size_t)rank * sizeof(*dims));
	if (numel != v->numel)
		return fail(st, -EINVAL, "new shape has %zu elements, not %zu", numel, v->numel);
	return 0;
}

static int op_flatten(struct imp *st, const Onnx__NodeProto *n)
{
	static const char *const known[] = {"axis", NULL};
	int64_t axis, dims[2] = {1, 1};
	struct val *x, *y;
	int ret = 0;

	if ((ret = need_inputs(st, n, 1, 1)) || (ret = check_attrs(st, n, known)) ||
	    (ret = attr_int(st, n, "axis", 1, &axis)))
		return ret;
	if (!(x = input(st, n, 0, &ret)))
		return ret;
	if (x->kind == V_ACT && (ret = check_act(st, x)))
		return ret;
	if (axis < 0)
		axis += x->rank;
	if (axis < 0 || axis > x->rank)
		return fail(st, -EINVAL, "axis out of range for rank %d", x->rank);
	if (x->kind == V_ACT && axis != 1)
		return fail(st, -EOPNOTSUPP, "flatten at axis %lld would mix rows of the batch",
			    (long long)axis);
	for (int a = 0; a < x->rank; a++)
		dims[a < axis ? 0 : 1] *= x->dims[a];
	if (!(y = define_out(st, n, x, &ret)))
		return ret;
	return set_shape(st, y, dims, 2);
}

static int op_reshape(struct imp *st, const Onnx__NodeProto *n)
{
	static const char *const known[] = {"allowzero", NULL};
	int64_t allowzero, dims[MAX_RANK], known_prod = 1;
	struct val *x, *s, *y;
	int infer = -1, rank, ret = 0;
	size_t total;

	if ((ret = need_inputs(st, n, 2, 2)) || (ret = check_attrs(st, n, known)) ||
	    (ret = attr_int(st, n, "allowzero", 0, &allowzero)))
		return ret;
	if (!(x = input(st, n, 0, &ret)) || !(s = input(st, n, 1, &ret)))
		return ret;
	if (x->kind == V_ACT && (ret = check_act(st, x)))
		return ret;
	if (s->kind != V_INT64 || s->rank != 1)
		return fail(st, -EOPNOTSUPP, "shape \"%s\" must be a constant int64 vector",
			    s->name);
	if (s->numel > MAX_RANK || (x->kind == V_ACT && s->numel < 1))
		return fail(st, -EOPNOTSUPP, "target rank %zu not supported", s->numel);
	rank = (int)s->numel;
	for (int i = 0; i < rank; i++) {
		int64_t d = s->i[i];

		if (d == 0 && !allowzero) {
			if (i >= x->rank)
				return fail(st, -EINVAL, "0 at axis %d copies a missing axis", i);
			d = x->dims[i];
		} else if (d == 0) {
			return fail(st, -EOPNOTSUPP, "allowzero with a zero dimension");
		}
		if (d == -1) {
			if (infer >= 0)
				return fail(st, -EINVAL, "more than one -1 in the shape");
			infer = i;
		} else if (d < 0 || d > MODEL_MAX_ELEMS) {
			return fail(st, -EINVAL, "bad dimension %lld", (long long)d);
		} else if (!(x->kind == V_ACT && i == 0)) {
			known_prod *= d;
			if (known_prod > MODEL_MAX_ELEMS)
				return fail(st, -EINVAL, "shape too large");
		}
		dims[i] = d;
	}
	total = x->numel;
	if (x->kind == V_ACT) {
		/*
		 * Row-major order is kept, so the batch stays dimension 0 exactly when the
		 * other dimensions multiply to F: either the batch is copied (0) and at most
		 * one other -1 is inferred, or dimension 0 is the -1.
		 */
		if (s->i[0] > 0)
			return fail(st, -EOPNOTSUPP, "reshape fixes the batch dimension to %lld",
				    (long long)s->i[0]);
		if (infer > 0) {
			if (!known_prod || total % (size_t)known_prod)
				return fail(st, -EINVAL, "cannot infer -1 for %zu elements", total);
			dims[infer] = (int64_t)(total / (size_t)known_prod);
		} else if (infer == 0 && (size_t)known_prod != total) {
			return fail(st, -EOPNOTSUPP, "reshape moves elements across batch rows");
		}
		dims[0] = 0;
	} else if (infer >= 0) {
		if (!known_prod || total % (size_t)known_prod)
			return fail(st, -EINVAL, "cannot infer -1 for %zu elements", total);
		dims[infer] = (int64_t)(total / (size_t)known_prod);
	}
	if (!(y = define_out(st, n, x, &ret)))
		return ret;
	return set_shape(st, y, dims, rank);
}

/* A Constant's value_float(s) / value_int(s): n elements of elem bytes, a scalar unless
 * vector. */
static int const_values(struct imp *st, struct val *v, enum val_kind kind, const void *src,
			size_t n, size_t elem, bool vector)
{
	void *dst;
	int ret;

	v->kind = kind;
	if (vector) {
		v->rank = 1;
		ret = dims_numel(st, (int64_t[]){(int64_t)n}, 1, &v->numel);
		if (ret)
			return ret;
		v->dims[0] = (int64_t)n;
	} else {
		v->numel = 1;
	}
	dst = model_alloc(st->m, n * elem);
	if (!dst)
		return fail(st, -ENOMEM, "out of memory");
	if (n)
		memcpy(dst, src, n * elem);
	if (kind == V_FLOAT)
		v->f = dst;
	else
		v->i = dst;
	return 0;
}

static int op_constant(struct imp *st, const Onnx__NodeProto *n)
{
	const Onnx__AttributeProto *a;
	struct val *v;

	if (n->n_input)
		return fail(st, -EINVAL, "Constant has inputs");
	if (n->n_attribute != 1 || !(a = n->attribute[0]))
		return fail(st, -EINVAL, "Constant needs exactly one attribute");
	v = add_val(st, n->output[0]);
	if (!v)
		return fail(st, -ENOMEM, "too many values");
	if (!strcmp(s_or_empty(a->name), "value") && a->t) {
		return load_tensor(st, a->t, v);
	} else if (!strcmp(s_or_empty(a->name), "value_float") &&
		   a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) {
		return const_values(st, v, V_FLOAT, &a->f, 1, sizeof(float), false);
	} else if (!strcmp(s_or_empty(a->name), "value_floats") &&
		   a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS) {
		return const_values(st, v, V_FLOAT, a->floats, a->n_floats, sizeof(float), true);
	} else if (!strcmp(s_or_empty(a->name), "value_int") &&
		   a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
		return const_values(st, v, V_INT64, &a->i, 1, sizeof(int64_t), false);
	} else if (!strcmp(s_or_empty(a->name), "value_ints") &&
		   a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) {
		return const_values(st, v, V_INT64, a->ints, a->n_ints, sizeof(int64_t), true);
	}
	return fail(st, -EOPNOTSUPP, "unsupported Constant attribute \"%s\"", s_or_empty(a->name));
}

static int compile_node(struct imp *st, const Onnx__NodeProto *n)
{
	const char *op = s_or_empty(n->op_type), *dom = s_or_empty(n->domain);

	if (*dom && strcmp(dom, "ai.onnx"))
		return fail(st, -EOPNOTSUPP, "operator domain \"%s\" is not supported", dom);
	if (n->n_output != 1 || !*s_or_empty(n->output[0]))
		return fail(st, n->n_output > 1 ? -EOPNOTSUPP : -EINVAL,
			    "has %zu outputs, expected 1", n->n_output);
	for (size_t i = 0; i < n->n_input; i++)
		if (!n->input[i])
			return fail(st, -EINVAL, "input %zu has no name", i);
	/* ONNX graphs are in SSA form; a redefinition would also alias a live constant */
	if (find_val(st, n->output[0]))
		return fail(st, -EINVAL, "output \"%s\" is already defined", n->output[0]);

	if (!strcmp(op, "Gemm"))
		return op_gemm(st, n);
	if (!strcmp(op, "MatMul"))
		return op_matmul(st, n);
	if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div"))
		return op_binary(st, n, op);
	if (!strcmp(op, "Relu"))
		return op_unary(st, n, EPI_RELU);
	if (!strcmp(op, "LeakyRelu"))
		return op_unary(st, n, EPI_LEAKY);
	if (!strcmp(op, "Sigmoid"))
		return op_unary(st, n, EPI_SIGMOID);
	if (!strcmp(op, "Tanh"))
		return op_unary(st, n, EPI_TANH);
	if (!strcmp(op, "Softmax"))
		return op_softmax(st, n);
	if (!strcmp(op, "Identity"))
		return op_identity(st, n);
	if (!strcmp(op, "Dropout"))
		return op_dropout(st, n);
	if (!strcmp(op, "BatchNormalization"))
		return op_batchnorm(st, n);
	if (!strcmp(op, "Flatten"))
		return op_flatten(st, n);
	if (!strcmp(op, "Reshape"))
		return op_reshape(st, n);
	if (!strcmp(op, "Constant"))
		return op_constant(st, n);
	return fail(st, -EOPNOTSUPP, "unsupported operator");
}

/* ---- graph ------------------------------------------------------------------------------ */

static int graph_input(struct imp *st, const Onnx__GraphProto *g)
{
	const Onnx__ValueInfoProto *in = NULL;
	const Onnx__TensorShapeProto *shape;
	struct val *v;
	size_t f = 1;

	for (size_t i = 0; i < g->n_input; i++) {
		const Onnx__ValueInfoProto *vi = g->input[i];

		/* before IR 4, initializers were listed as inputs too */
		if (!vi || find_val(st, vi->name))
			continue;
		if (in)
			return fail(st, -EOPNOTSUPP, "more than one graph input (\"%s\", \"%s\")",
				    s_or_empty(in->name), s_or_empty(vi->name));
		in = vi;
	}
	if (!in || !*s_or_empty(in->name))
		return fail(st, -EINVAL, "graph has no named runtime input");
	if (!in->type || in->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
	    !in->type->tensor_type)
		return fail(st, -EOPNOTSUPP, "input \"%s\" is not a tensor", in->name);
	if (in->type->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
		return fail(st, -EOPNOTSUPP, "input \"%s\" has data type %d, not float", in->name,
			    in->type->tensor_type->elem_type);
	shape = in->type->tensor_type->shape;
	if (!shape || shape->n_dim < 2 || shape->n_dim > MAX_RANK)
		return fail(st, -EOPNOTSUPP, "input \"%s\" needs rank 2..%d with a batch axis 0",
			    in->name, MAX_RANK);
	v = add_val(st, in->name);
	if (!v)
		return fail(st, -ENOMEM, "out of memory");
	v->kind = V_ACT;
	v->rank = (int)shape->n_dim;
	for (size_t i = 1; i < shape->n_dim; i++) {
		const Onnx__TensorShapeProto__Dimension *d = shape->dim[i];

		if (!d || d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
		    d->dim_value <= 0 || d->dim_value > MODEL_MAX_DIM)
			return fail(st, -EOPNOTSUPP, "input \"%s\": dimension %zu must be fixed",
				    in->name, i);
		v->dims[i] = d->dim_value;
		f *= (size_t)d->dim_value;
		if (f > MODEL_MAX_DIM)
			return fail(st, -EOPNOTSUPP, "input \"%s\" is wider than %u", in->name,
				    MODEL_MAX_DIM);
	}
	v->numel = f;
	st->m->in_dim = f;
	return 0;
}

static int compile_graph(struct imp *st, const Onnx__ModelProto *mp)
{
	const Onnx__GraphProto *g = mp->graph;
	struct lg_model *m = st->m;
	const struct val *out;
	int ret;

	st->opset = -1;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
		const char *d = o ? s_or_empty(o->domain) : "x";

		if (!*d || !strcmp(d, "ai.onnx"))
			st->opset = o->version;
	}
	if (st->opset < 0)
		return fail(st, -EINVAL, "no opset for the default domain");
	if (st->opset < 7)
		return fail(st, -EOPNOTSUPP, "opset %lld is older than 7", (long long)st->opset);
	if (!g)
		return fail(st, -EBADMSG, "model has no graph");
	if (g->n_sparse_initializer)
		return fail(st, -EOPNOTSUPP, "sparse initializers are not supported");
	if (g->n_node > MAX_NODES || g->n_initializer > MAX_NODES)
		return fail(st, -EOPNOTSUPP, "graph has more than %d nodes or initializers",
			    MAX_NODES);

	for (size_t i = 0; i < g->n_initializer; i++) {
		const Onnx__TensorProto *t = g->initializer[i];
		struct val *v;

		if (!t || !*s_or_empty(t->name))
			return fail(st, -EINVAL, "initializer %zu has no name", i);
		if (!(v = add_val(st, t->name)))
			return fail(st, -ENOMEM, "out of memory");
		if ((ret = load_tensor(st, t, v)))
			return ret;
	}
	if ((ret = graph_input(st, g)))
		return ret;

	for (size_t i = 0; i < g->n_node; i++) {
		if (!g->node[i])
			return fail(st, -EINVAL, "node %zu is empty", i);
		st->node = g->node[i];
		st->node_idx = i;
		if ((ret = compile_node(st, g->node[i])))
			return ret;
	}
	st->node = NULL;

	if (g->n_output != 1 || !g->output[0])
		return fail(st, -EOPNOTSUPP, "graph has %zu outputs, expected 1", g->n_output);
	out = find_val(st, g->output[0]->name);
	if (!out)
		return fail(st, -EINVAL, "graph output \"%s\" is never computed",
			    s_or_empty(g->output[0]->name));
	if (out->kind != V_ACT || out->gen != st->cur_gen)
		return fail(st, -EOPNOTSUPP, "graph output \"%s\" is not the last layer's result",
			    out->name);
	m->out_dim = out->numel;
	if (!m->out_dim)
		return fail(st, -EINVAL, "graph output is empty");

	m->max_width = 1;
	for (size_t i = 0; i < m->n_layers; i++)
		if (m->layers[i].n > m->max_width)
			m->max_width = m->layers[i].n;
	m->kind = m->out_dim == m->in_dim ? LG_MODEL_AUTOENCODER : LG_MODEL_CLASSIFIER;
	if (m->n_layers) {
		const struct model_layer *l = &m->layers[m->n_layers - 1];

		m->ends_softmax = l->n_ops && l->ops[l->n_ops - 1].kind == EPI_SOFTMAX &&
				  l->ops[l->n_ops - 1].group == m->out_dim;
	}
	return 0;
}

int lg_model_load_mem(const void *buf, size_t len, struct lg_model **out, char *err, size_t errlen)
{
	return lg_model_load_mem_gemm(buf, len, LG_MODEL_GEMM_AUTO, out, err, errlen);
}

int lg_model_load_mem_gemm(const void *buf, size_t len, enum lg_model_gemm gemm,
			   struct lg_model **out, char *err, size_t errlen)
{
	struct imp st = {.err = err, .errlen = errlen};
	Onnx__ModelProto *mp;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!buf && len))
		return fail(&st, -EINVAL, "bad arguments");
	if (len > MAX_FILE)
		return fail(&st, -EOPNOTSUPP, "model larger than %u bytes", MAX_FILE);
	model_runtime_init();
	mp = onnx__model_proto__unpack(NULL, len, buf);
	if (!mp)
		return fail(&st, -EBADMSG, "not a valid ONNX protobuf (truncated or corrupt)");
	st.m = calloc(1, sizeof(*st.m));
	if (!st.m) {
		ret = fail(&st, -ENOMEM, "out of memory");
		goto err_unpack;
	}
	ret = compile_graph(&st, mp);
	if (ret)
		goto err_model;
	/* The alert threshold travels with the model, as model metadata. */
	for (size_t i = 0; i < mp->n_metadata_props; i++) {
		const Onnx__StringStringEntryProto *kv = mp->metadata_props[i];
		char *end;
		float v;

		if (!kv->key || !kv->value)
			continue;
		if (!strcmp(kv->key, "linegate.window")) {
			unsigned long w = strtoul(kv->value, &end, 10);

			if (*end || end == kv->value || w < 8 || w > 65536) {
				ret = fail(&st, -EINVAL, "metadata linegate.window '%.32s' is not a "
					   "window of 8 to 65536 samples", kv->value);
				goto err_model;
			}
			st.m->window = (uint32_t)w;
			continue;
		}
		if (!strcmp(kv->key, "linegate.sample_rate")) {
			double r = strtod(kv->value, &end);

			if (*end || end == kv->value || !(r > 0) || !isfinite(r)) {
				ret = fail(&st, -EINVAL, "metadata linegate.sample_rate '%.32s' is not a "
					   "positive number of Hz", kv->value);
				goto err_model;
			}
			st.m->sample_rate = r;
			continue;
		}
		if (!strcmp(kv->key, "linegate.layout")) {
			if (!kv->value[0] || strlen(kv->value) >= sizeof(st.m->layout)) {
				ret = fail(&st, -EINVAL, "metadata linegate.layout '%.32s' is not a "
					   "layout name", kv->value);
				goto err_model;
			}
			snprintf(st.m->layout, sizeof(st.m->layout), "%s", kv->value);
			continue;
		}
		if (strcmp(kv->key, "linegate.threshold"))
			continue;
		v = strtof(kv->value, &end);
		if (*end || !(v > 0) || !isfinite(v)) {
			ret = fail(&st, -EINVAL, "metadata linegate.threshold '%.32s' is not a positive "
				   "number", kv->value);
			goto err_model;
		}
		st.m->threshold = v;
		st.m->has_threshold = 1;
	}
	lg_model_set_isa(st.m, LG_MODEL_ISA_AUTO);
	/* The route is set once, here: a model loaded for openblas never makes JIT code. */
	ret = lg_model_set_gemm(st.m, gemm);
	if (ret) {
		const char *why = lg_model_gemm_missing(gemm);

		fail(&st, ret, "cannot prepare the weights for the GEMM route %s (%s)",
		     lg_model_gemm_name(gemm),
		     ret == -ENOMEM ? "out of memory"
		     : why	    ? why
				    : "no kernel for a layer's shape");
		goto err_model;
	}
	free(st.vals);
	onnx__model_proto__free_unpacked(mp, NULL);
	*out = st.m;
	return 0;

err_model:
	lg_model_free(st.m);
err_unpack:
	free(st.vals);
	onnx__model_proto__free_unpacked(mp, NULL);
	return ret;
}

int lg_model_load_file(const char *path, struct lg_model **out, char *err, size_t errlen)
{
	struct imp st = {.err = err, .errlen = errlen};
	struct stat sb;
	size_t got = 0;
	char *buf;
	int fd, ret;

	if (!path || !out)
		return fail(&st, -EINVAL, "bad arguments");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(&st, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb)) {
		ret = fail(&st, -errno, "%s: %s", path, strerror(errno));
		goto err_close;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > MAX_FILE) {
		ret = fail(&st, -EINVAL, "%s: not a regular file of at most %u bytes", path,
			   MAX_FILE);
		goto err_close;
	}
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!buf) {
		ret = fail(&st, -ENOMEM, "out of memory");
		goto err_close;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = fail(&st, r ? -errno : -EIO, "%s: short read", path);
			goto err_free;
		}
		got += (size_t)r;
	}
	ret = lg_model_load_mem(buf, got, out, err, errlen);
err_free:
	free(buf);
err_close:
	close(fd);
	return ret;
}
