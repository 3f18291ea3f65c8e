/*
 * distance.c
 *	  Distance kernels (AVX-512, AVX2+FMA, portable), the prober's int8
 *	  layer kernel, and the SQL distance functions on real[].
 *
 * The SQL functions call these kernels, and the index the integer code
 * kernels, whose bounds (quant.c) allow for the float kernels' rounding, so
 * an index scan never hands out a bound above the distance the executor
 * then computes.
 * The kernel is chosen once from the CPU (GUC fann.simd can force one, for
 * tests).
 */
#include "postgres.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define FANN_X86 1
#endif

#include "fann.h"
#include "fmgr.h"
#include "utils/guc.h"

typedef enum FannSimd
{
	FANN_SIMD_AUTO,
	FANN_SIMD_GENERIC,
	FANN_SIMD_AVX2,
	FANN_SIMD_AVX512,
	FANN_SIMD_AVX512VNNI
} FannSimd;

static const struct config_enum_entry fann_simd_options[] = {
	{"auto", FANN_SIMD_AUTO, false},
	{"generic", FANN_SIMD_GENERIC, false},
	{"avx2", FANN_SIMD_AVX2, false},
	{"avx512", FANN_SIMD_AVX512, false},
	{"avx512vnni", FANN_SIMD_AVX512VNNI, false},
	{NULL, 0, false}
};

static int	fann_simd = FANN_SIMD_AUTO;

/* The primitives every metric is built from, set by FannSetSimd() */
static float (*l2sq_impl) (const float *a, const float *b, int n);
static float (*dot_impl) (const float *a, const float *b, int n);
static void (*cosine_impl) (const float *a, const float *b, int n,
							float *ab, float *aa, float *bb);
static void (*code_dot_impl) (const FannIntQuery *q, const FannCodeData *const *rows,
							  int n, int dim, int32 *out);
static void (*fast_scan_impl) (const uint8 *lo, const uint8 *hi, const uint8 *codes,
							   int npairs, uint32 *sums, bool add);
static void (*int8_dots_impl) (const int8 *w, int ngroups, int nout, const uint8 *x,
							   int32 *y);

/* Portable kernels: four partial sums let the compiler vectorise */
static float
l2sq_generic(const float *a, const float *b, int n)
{
	float		s[4] = {0, 0, 0, 0};
	int			i = 0;

	for (; i + 4 <= n; i += 4)
		for (int j = 0; j < 4; j++)
		{
			float		d = a[i + j] - b[i + j];

			s[j] += d * d;
		}
	for (; i < n; i++)
		s[0] += (a[i] - b[i]) * (a[i] - b[i]);
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static float
dot_generic(const float *a, const float *b, int n)
{
	float		s[4] = {0, 0, 0, 0};
	int			i = 0;

	for (; i + 4 <= n; i += 4)
		for (int j = 0; j < 4; j++)
			s[j] += a[i + j] * b[i + j];
	for (; i < n; i++)
		s[0] += a[i] * b[i];
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static void
cosine_generic(const float *a, const float *b, int n,
			   float *ab, float *aa, float *bb)
{
	float		sab = 0,
				saa = 0,
				sbb = 0;

	for (int i = 0; i < n; i++)
	{
		sab += a[i] * b[i];
		saa += a[i] * a[i];
		sbb += b[i] * b[i];
	}
	*ab = sab;
	*aa = saa;
	*bb = sbb;
}

/*
 * Kernels over 8-bit codes (quant.c): the integer dot product of a code c
 * with the query quantised to 16-bit integers u (zero beyond the
 * dimensions, to a multiple of 32).  Integer sums are exact, so every
 * instruction set gives the same bounds (quant.c keeps them within int32).
 */
/* Over dimensions [from, n) */
static inline int32
code_dot_tail(const int16 *u, const uint8 *code, int from, int n)
{
	int32		s = 0;

	for (int i = from; i < n; i++)
		s += u[i] * code[i];
	return s;
}

static inline int32
code_dot_generic(const FannIntQuery *q, const uint8 *code, int n)
{
	return code_dot_tail(q->u, code, 0, n);
}

#ifdef FANN_X86

__attribute__((target("avx2,fma")))
static inline float
hsum256(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Two accumulators hide the FMA latency (4 cycles) on 128-d vectors */
__attribute__((target("avx2,fma")))
static float
l2sq_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps();
	float		tail = 0;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));

		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	for (; i + 8 <= n; i += 8)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	for (; i < n; i++)
		tail += (a[i] - b[i]) * (a[i] - b[i]);
	return hsum256(_mm256_add_ps(s0, s1)) + tail;
}

__attribute__((target("avx2,fma")))
static float
dot_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps();
	float		tail = 0;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	for (; i < n; i++)
		tail += a[i] * b[i];
	return hsum256(_mm256_add_ps(s0, s1)) + tail;
}

__attribute__((target("avx2,fma")))
static void
cosine_avx2(const float *a, const float *b, int n,
			float *ab, float *aa, float *bb)
{
	__m256		sab = _mm256_setzero_ps(),
				saa = _mm256_setzero_ps(),
				sbb = _mm256_setzero_ps();
	float		tab = 0,
				taa = 0,
				tbb = 0;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		va = _mm256_loadu_ps(a + i);
		__m256		vb = _mm256_loadu_ps(b + i);

		sab = _mm256_fmadd_ps(va, vb, sab);
		saa = _mm256_fmadd_ps(va, va, saa);
		sbb = _mm256_fmadd_ps(vb, vb, sbb);
	}
	for (; i < n; i++)
	{
		tab += a[i] * b[i];
		taa += a[i] * a[i];
		tbb += b[i] * b[i];
	}
	*ab = hsum256(sab) + tab;
	*aa = hsum256(saa) + taa;
	*bb = hsum256(sbb) + tbb;
}

/* AVX-512: masked loads handle the tail without a scalar loop */
__attribute__((target("avx512f")))
static float
l2sq_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));

		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = (n - i >= 16) ? 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);
		__m512		d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));

		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f")))
static float
dot_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = (n - i >= 16) ? 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);

		s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f")))
static void
cosine_avx512(const float *a, const float *b, int n,
			  float *ab, float *aa, float *bb)
{
	__m512		sab = _mm512_setzero_ps(),
				saa = _mm512_setzero_ps(),
				sbb = _mm512_setzero_ps();

	for (int i = 0; i < n; i += 16)
	{
		__mmask16	m = (n - i >= 16) ? 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);
		__m512		va = _mm512_maskz_loadu_ps(m, a + i);
		__m512		vb = _mm512_maskz_loadu_ps(m, b + i);

		sab = _mm512_fmadd_ps(va, vb, sab);
		saa = _mm512_fmadd_ps(va, va, saa);
		sbb = _mm512_fmadd_ps(vb, vb, sbb);
	}
	*ab = _mm512_reduce_add_ps(sab);
	*aa = _mm512_reduce_add_ps(saa);
	*bb = _mm512_reduce_add_ps(sbb);
}
/* 16 codes widened to 16 bits, times u's, summed in pairs */
__attribute__((target("avx2")))
static inline __m256i
madd_avx2(__m128i c, const int16 *u)
{
	return _mm256_madd_epi16(_mm256_cvtepu8_epi16(c),
							 _mm256_loadu_si256((const __m256i *) u));
}

__attribute__((target("avx2")))
static inline int32
code_dot_avx2(const FannIntQuery *q, const uint8 *code, int n)
{
	const int16 *u = q->u;
	__m256i		s = _mm256_setzero_si256();
	__m128i		h;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s = _mm256_add_epi32(s, madd_avx2(_mm_loadu_si128((const __m128i *) (code + i)), u + i));
		s = _mm256_add_epi32(s, madd_avx2(_mm_loadu_si128((const __m128i *) (code + i + 16)),
										  u + i + 16));
	}
	h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(h) + code_dot_tail(u, code, i, n);
}

__attribute__((target("avx512f,avx512bw")))
static inline int32
code_dot_avx512(const FannIntQuery *q, const uint8 *code, int n)
{
	const int16 *u = q->u;
	__m512i		s = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
		s = _mm512_add_epi32(s, _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (code + i))),
												  _mm512_loadu_si512(u + i)));
	return _mm512_reduce_add_epi32(s) + code_dot_tail(u, code, i, n);
}

/*
 * With VNNI, 64 bytes of codes at a time times the query's bytes, summed in
 * fours into 32 bits (vpdpbusd): <u, c> = 128 <uh, c> + <ul, c>, no
 * widening.  The last load is masked to the code's end; the query is zero
 * beyond its dimensions.
 */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static inline __m512i
code_dot_avx512vnni(const FannIntQuery *q, const uint8 *code, int n)
{
	__m512i		h = _mm512_setzero_si512();
	__m512i		l = _mm512_setzero_si512();

	for (int b = 0; b < n; b += 64)
	{
		__mmask64	m = n - b >= 64 ? ~(__mmask64) 0 : ((__mmask64) 1 << (n - b)) - 1;
		__m512i		v = _mm512_maskz_loadu_epi8(m, code + b);

		h = _mm512_dpbusd_epi32(h, v, _mm512_loadu_si512(q->uh + b));
		l = _mm512_dpbusd_epi32(l, v, _mm512_loadu_si512(q->ul + b));
	}
	/* wrapping sums: exact, as the total fits */
	return _mm512_add_epi32(_mm512_slli_epi32(h, 7), l);
}

/* The sums of the lanes of a, b, c and d, in that order */
__attribute__((target("avx512f")))
static inline __m128i
reduce4_avx512(__m512i a, __m512i b, __m512i c, __m512i d)
{
	__m512i		ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
	__m512i		cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
	__m512i		x = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
	__m256i		y = _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));

	return _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
}
#endif							/* FANN_X86 */

/*
 * The code kernels of an instruction set over many rows: the rows lie
 * scattered over shared buffers, each a cache miss, so the rows a few ahead
 * are asked for while one is computed
 */
#define CODE_PREFETCH_AHEAD		4

static inline void
prefetch_row(const FannCodeData *const *rows, int i, int n, int dim)
{
	if (i < n)
		FannPrefetchRange(rows[i], FANN_CODE_SIZE(dim));
}

#define CODE_KERNELS(isa, target) \
target static void \
code_dots_##isa(const FannIntQuery *q, const FannCodeData *const *rows, int n, int dim, int32 *out) \
{ \
	for (int i = 0; i < n; i++) \
	{ \
		prefetch_row(rows, i + CODE_PREFETCH_AHEAD, n, dim); \
		out[i] = code_dot_##isa(q, rows[i]->code, dim); \
	} \
}

CODE_KERNELS(generic,)
#ifdef FANN_X86
CODE_KERNELS(avx2, __attribute__((target("avx2"))))
CODE_KERNELS(avx512, __attribute__((target("avx512f,avx512bw"))))

/*
 * With VNNI the horizontal sum of a row's lanes would cost as much as its
 * products: four rows are summed together
 */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void
code_dots_avx512vnni(const FannIntQuery *q, const FannCodeData *const *rows, int n, int dim,
					 int32 *out)
{
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		__m512i		s[4];

		for (int j = 0; j < 4; j++)
		{
			prefetch_row(rows, i + j + CODE_PREFETCH_AHEAD, n, dim);
			s[j] = code_dot_avx512vnni(q, rows[i + j]->code, dim);
		}
		_mm_storeu_si128((__m128i *) (out + i), reduce4_avx512(s[0], s[1], s[2], s[3]));
	}
	for (; i < n; i++)
		out[i] = _mm512_reduce_add_epi32(code_dot_avx512vnni(q, rows[i]->code, dim));
}
#endif

/*
 * Fast scan (faiss's 4-bit fast-scan kernels): the table sums of a block's
 * 32 rows over npairs pairs of dimensions, added to sums (with add, else
 * stored: zeroing them first cost a rep stos a block): row r gets
 * lo[32 p + its first level] + hi[32 p + its second level] of each pair p,
 * its levels the halves of byte codes[32 p + r] (fann.h, partition pages;
 * quant.c, the tables).  The SIMD kernels look the bytes up 32 (AVX2) or 64
 * (AVX-512, two pairs) at a time with one byte shuffle, and add them in
 * 16-bit lanes, each holding an even row's byte plus 256 times the next
 * row's, the odd rows also alone: the even rows' sums are the difference.
 * 16-bit sums of up to FANN_FAST_SCAN_RUN pairs are exact.
 */
#define FANN_FAST_SCAN_RUN		128 /* 2 * 255 * 128 < 65536 */

static void
fast_scan_generic(const uint8 *lo, const uint8 *hi, const uint8 *codes, int npairs,
				  uint32 *sums, bool add)
{
	if (!add)
		memset(sums, 0, sizeof(uint32) * FANN_BLOCK_ROWS);
	for (int p = 0; p < npairs; p++)
		for (int r = 0; r < FANN_BLOCK_ROWS; r++)
		{
			uint8		c = codes[p * FANN_BLOCK_ROWS + r];

			sums[r] += lo[p * 32 + (c & 15)] + hi[p * 32 + (c >> 4)];
		}
}

/*
 * The sums y = x W of a layer of the prober (lira.c) in integers: unsigned
 * byte inputs x (ngroups fours) times signed byte weights packed in fours of
 * inputs, as vpdpbusd takes them: group g's four weights of output o at
 * w[4 (g nout + o)], nout a multiple of 16.  Exact, so every kernel gives
 * the same sums; a group of inputs that are all 0 (a ReLU zeroed them) is
 * skipped.
 */
static void
int8_dots_generic(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y)
{
	memset(y, 0, sizeof(int32) * nout);
	for (int g = 0; g < ngroups; g++)
	{
		const int8 *wg = w + (Size) g * nout * 4;
		const uint8 *xg = x + 4 * g;

		int32		x0 = xg[0],
					x1 = xg[1],
					x2 = xg[2],
					x3 = xg[3];

		if ((x0 | x1 | x2 | x3) == 0)
			continue;
		for (int o = 0; o < nout; o++)
			y[o] += x0 * wg[4 * o] + x1 * wg[4 * o + 1] + x2 * wg[4 * o + 2] + x3 * wg[4 * o + 3];
	}
}

/* A group's four input bytes as one word, and whether they are all 0 */
static inline uint32
int8_group(const uint8 *x, int g)
{
	uint32		v;

	memcpy(&v, x + 4 * g, sizeof(v));
	return v;
}

#ifdef FANN_X86
/*
 * Add a run's 16-bit sums (all: even + 256 odd rows; odd) to sums, or
 * store them: lane i of each 128-bit half holds rows 2 i and 2 i + 1 of its
 * 16
 */
__attribute__((target("avx2")))
static inline void
fast_scan_add(__m256i all, __m256i odd, uint32 *sums, bool add)
{
	__m256i		even = _mm256_sub_epi16(all, _mm256_slli_epi16(odd, 8));
	__m256i		lo = _mm256_unpacklo_epi16(even, odd);	/* rows 0-7, 16-23 */
	__m256i		hi = _mm256_unpackhi_epi16(even, odd);	/* rows 8-15, 24-31 */
	__m256i		rows[4] = {
		_mm256_cvtepu16_epi32(_mm256_castsi256_si128(lo)),
		_mm256_cvtepu16_epi32(_mm256_castsi256_si128(hi)),
		_mm256_cvtepu16_epi32(_mm256_extracti128_si256(lo, 1)),
		_mm256_cvtepu16_epi32(_mm256_extracti128_si256(hi, 1))
	};

	for (int i = 0; i < 4; i++)
	{
		__m256i    *s = (__m256i *) (sums + 8 * i);

		_mm256_storeu_si256(s, add ? _mm256_add_epi32(_mm256_loadu_si256(s), rows[i]) : rows[i]);
	}
}

/* One pair of 32 rows into the 16-bit sums */
__attribute__((target("avx2")))
static inline void
fast_scan_pair_avx2(const uint8 *lo, const uint8 *hi, const uint8 *codes,
					__m256i *all, __m256i *odd)
{
	__m256i		mask = _mm256_set1_epi8(15);
	__m256i		c = _mm256_loadu_si256((const __m256i *) codes);
	__m256i		a = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *) lo),
										_mm256_and_si256(c, mask));
	__m256i		b = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *) hi),
										_mm256_and_si256(_mm256_srli_epi16(c, 4), mask));

	*all = _mm256_add_epi16(*all, _mm256_add_epi16(a, b));
	*odd = _mm256_add_epi16(*odd, _mm256_add_epi16(_mm256_srli_epi16(a, 8),
												   _mm256_srli_epi16(b, 8)));
}

__attribute__((target("avx2")))
static void
fast_scan_avx2(const uint8 *lo, const uint8 *hi, const uint8 *codes, int npairs,
			   uint32 *sums, bool add)
{
	for (int from = 0; from < npairs; from += FANN_FAST_SCAN_RUN)
	{
		__m256i		all = _mm256_setzero_si256(),
					odd = _mm256_setzero_si256();

		for (int p = from; p < Min(npairs, from + FANN_FAST_SCAN_RUN); p++)
			fast_scan_pair_avx2(lo + p * 32, hi + p * 32, codes + p * FANN_BLOCK_ROWS, &all, &odd);
		fast_scan_add(all, odd, sums, add || from > 0);
	}
}

__attribute__((target("avx2,avx512f,avx512bw")))
static void
fast_scan_avx512(const uint8 *lo, const uint8 *hi, const uint8 *codes, int npairs,
				 uint32 *sums, bool add)
{
	__m512i		mask = _mm512_set1_epi8(15);

	for (int from = 0; from < npairs; from += FANN_FAST_SCAN_RUN)
	{
		int			to = Min(npairs, from + FANN_FAST_SCAN_RUN);
		__m512i		all2 = _mm512_setzero_si512(),
					odd2 = _mm512_setzero_si512();
		__m256i		all,
					odd;
		int			p = from;

		for (; p + 2 <= to; p += 2)
		{
			__m512i		c = _mm512_loadu_si512(codes + p * FANN_BLOCK_ROWS);
			__m512i		a = _mm512_shuffle_epi8(_mm512_loadu_si512(lo + p * 32),
												_mm512_and_si512(c, mask));
			__m512i		b = _mm512_shuffle_epi8(_mm512_loadu_si512(hi + p * 32),
												_mm512_and_si512(_mm512_srli_epi16(c, 4), mask));

			all2 = _mm512_add_epi16(all2, _mm512_add_epi16(a, b));
			odd2 = _mm512_add_epi16(odd2, _mm512_add_epi16(_mm512_srli_epi16(a, 8),
														   _mm512_srli_epi16(b, 8)));
		}
		/* the two pairs' halves are the same rows */
		all = _mm256_add_epi16(_mm512_castsi512_si256(all2), _mm512_extracti64x4_epi64(all2, 1));
		odd = _mm256_add_epi16(_mm512_castsi512_si256(odd2), _mm512_extracti64x4_epi64(odd2, 1));
		if (p < to)
			fast_scan_pair_avx2(lo + p * 32, hi + p * 32, codes + p * FANN_BLOCK_ROWS, &all, &odd);
		fast_scan_add(all, odd, sums, add || from > 0);
	}
}
#endif

#ifdef FANN_X86
/*
 * int8_dots_generic with AVX2: a group's 16 weight bytes of four outputs
 * widened to 16 bits and multiplied by the four inputs in pairs (vpmaddwd,
 * exact where vpmaddubsw would saturate), 32 outputs' pair sums in
 * registers through all the groups, the pairs added at the end
 */
__attribute__((target("avx2")))
static inline __attribute__((always_inline)) void
int8_dots_tile_avx2(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y,
					int o, int nv)
{
	__m256i		s[8];

	for (int j = 0; j < nv; j++)
		s[j] = _mm256_setzero_si256();
	for (int g = 0; g < ngroups; g++)
	{
		uint32		v = int8_group(x, g);
		const int8 *wg = w + ((Size) g * nout + o) * 4;
		__m256i		xw;

		if (v == 0)
			continue;
		/* the four bytes as 16-bit lanes, in every 64 bits */
		xw = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128((int) v)));
		for (int j = 0; j < nv; j++)
		{
			__m256i		w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (wg + 16 * j)));

			s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(w16, xw));
		}
	}
	for (int j = 0; j < nv; j++)
	{
		/* lanes 2 i and 2 i + 1 hold output i's two pair sums */
		__m256i		t = _mm256_add_epi32(s[j], _mm256_srli_epi64(s[j], 32));

		t = _mm256_permutevar8x32_epi32(t, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
		_mm_storeu_si128((__m128i *) (y + o + 4 * j), _mm256_castsi256_si128(t));
	}
}

__attribute__((target("avx2")))
static void
int8_dots_avx2(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y)
{
	int			o = 0;

	for (; o + 32 <= nout; o += 32)
		int8_dots_tile_avx2(w, ngroups, nout, x, y, o, 8);
	for (; o < nout; o += 16)
		int8_dots_tile_avx2(w, ngroups, nout, x, y, o, 4);
}

/* With VNNI: 16 outputs' four products summed in one vpdpbusd, 64 in flight */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static inline __attribute__((always_inline)) void
int8_dots_tile_avx512vnni(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y,
						  int o, int nv)
{
	__m512i		s[4];

	for (int j = 0; j < nv; j++)
		s[j] = _mm512_setzero_si512();
	for (int g = 0; g < ngroups; g++)
	{
		uint32		v = int8_group(x, g);
		const int8 *wg = w + ((Size) g * nout + o) * 4;
		__m512i		xb;

		if (v == 0)
			continue;
		xb = _mm512_set1_epi32((int32) v);
		for (int j = 0; j < nv; j++)
			s[j] = _mm512_dpbusd_epi32(s[j], xb, _mm512_loadu_si512(wg + 64 * j));
	}
	for (int j = 0; j < nv; j++)
		_mm512_storeu_si512(y + o + 16 * j, s[j]);
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void
int8_dots_avx512vnni(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y)
{
	int			o = 0;

	for (; o + 64 <= nout; o += 64)
		int8_dots_tile_avx512vnni(w, ngroups, nout, x, y, o, 4);
	for (; o < nout; o += 16)
		int8_dots_tile_avx512vnni(w, ngroups, nout, x, y, o, 1);
}
#endif

static bool
simd_supported(int simd)
{
#ifdef FANN_X86
	if (simd == FANN_SIMD_AVX512VNNI)
		return simd_supported(FANN_SIMD_AVX512) &&
			__builtin_cpu_supports("avx512vnni");
	if (simd == FANN_SIMD_AVX512)
		return __builtin_cpu_supports("avx512f") &&
			__builtin_cpu_supports("avx512bw");
	if (simd == FANN_SIMD_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	return simd == FANN_SIMD_GENERIC;
}

static void
set_kernels(int simd)
{
	if (simd == FANN_SIMD_AUTO)
		simd = simd_supported(FANN_SIMD_AVX512VNNI) ? FANN_SIMD_AVX512VNNI :
			simd_supported(FANN_SIMD_AVX512) ? FANN_SIMD_AVX512 :
			simd_supported(FANN_SIMD_AVX2) ? FANN_SIMD_AVX2 : FANN_SIMD_GENERIC;

	l2sq_impl = l2sq_generic;
	dot_impl = dot_generic;
	cosine_impl = cosine_generic;
	code_dot_impl = code_dots_generic;
	fast_scan_impl = fast_scan_generic;
	int8_dots_impl = int8_dots_generic;
#ifdef FANN_X86
	if (simd == FANN_SIMD_AVX512 || simd == FANN_SIMD_AVX512VNNI)
	{
		l2sq_impl = l2sq_avx512;
		dot_impl = dot_avx512;
		cosine_impl = cosine_avx512;
		code_dot_impl = code_dots_avx512;
		fast_scan_impl = fast_scan_avx512;
		/* without VNNI, AVX-512 has no faster way to the exact sums */
		int8_dots_impl = int8_dots_avx2;
		if (simd == FANN_SIMD_AVX512VNNI)
		{
			code_dot_impl = code_dots_avx512vnni;
			int8_dots_impl = int8_dots_avx512vnni;
		}
	}
	else if (simd == FANN_SIMD_AVX2)
	{
		l2sq_impl = l2sq_avx2;
		dot_impl = dot_avx2;
		cosine_impl = cosine_avx2;
		code_dot_impl = code_dots_avx2;
		fast_scan_impl = fast_scan_avx2;
		int8_dots_impl = int8_dots_avx2;
	}
#endif
}

static bool
check_fann_simd(int *newval, void **extra, GucSource source)
{
	if (*newval == FANN_SIMD_AUTO || simd_supported(*newval))
		return true;
	GUC_check_errdetail("This CPU does not support that instruction set.");
	return false;
}

static void
assign_fann_simd(int newval, void *extra)
{
	set_kernels(newval);
}

void
FannDefineSimdGuc(void)
{
	set_kernels(FANN_SIMD_AUTO);
	DefineCustomEnumVariable("fann.simd",
							 "Instruction set of the distance kernels.",
							 "auto picks the widest one the CPU supports.",
							 &fann_simd, FANN_SIMD_AUTO, fann_simd_options,
							 PGC_USERSET, 0,
							 check_fann_simd, assign_fann_simd, NULL);
}

/*
 * The integer dot products of a quantised query with the 8-bit codes of n
 * rows, for quant.c
 */
void
FannCodeDotRows(const FannIntQuery *q, const FannCodeData *const *rows, int n,
				int dim, int32 *out)
{
	code_dot_impl(q, rows, n, dim, out);
}

/* x W for the prober's int8 layers (see int8_dots_generic) */
void
FannInt8Dots(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y)
{
	int8_dots_impl(w, ngroups, nout, x, y);
}

/* The fast-scan kernel (see fast_scan_generic), for the ivf search */
void
FannFastScanSums(const uint8 *lo, const uint8 *hi, const uint8 *codes, int npairs,
				 uint32 *sums, bool add)
{
	if (npairs == 0 && !add)
		memset(sums, 0, sizeof(uint32) * FANN_BLOCK_ROWS);
	fast_scan_impl(lo, hi, codes, npairs, sums, add);
}

/* The metric functions: final ORDER BY values, as float8 */
static double
l2_distance(const float *a, const float *b, int n)
{
	return sqrt((double) l2sq_impl(a, b, n));
}

static double
negative_inner_product(const float *a, const float *b, int n)
{
	return -(double) dot_impl(a, b, n);
}

/* Undefined for a zero vector: NaN, as pgvector returns; it sorts last */
static double
cosine_distance(const float *a, const float *b, int n)
{
	float		ab,
				aa,
				bb;
	double		similarity;

	cosine_impl(a, b, n, &ab, &aa, &bb);
	similarity = (double) ab / sqrt((double) aa * (double) bb);
	if (isnan(similarity))
		return similarity;
	/* rounding can push it slightly outside [-1, 1] */
	similarity = Max(-1.0, Min(1.0, similarity));
	return 1.0 - similarity;
}

FannDistanceFunction
FannGetDistance(FannMetric metric)
{
	switch (metric)
	{
		case FANN_METRIC_L2:
			return l2_distance;
		case FANN_METRIC_IP:
			return negative_inner_product;
		case FANN_METRIC_COSINE:
			return cosine_distance;
	}
	elog(ERROR, "unknown fann metric %d", (int) metric);
	return NULL;				/* keep compiler quiet */
}

/*
 * Common body of the SQL functions.  Inputs are checked for NaN/Inf only when
 * the result is not finite, which keeps the common case to one pass.
 */
static double
sql_distance(FunctionCallInfo fcinfo, FannDistanceFunction fn)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			na,
				nb;
	const float *va = FannVectorFromArray(a, &na, false);
	const float *vb = FannVectorFromArray(b, &nb, false);
	double		result;

	FannCheckDimensions(na, nb);
	result = fn(va, vb, na);
	if (!isfinite(result))
	{
		FannCheckFinite(va, na);
		FannCheckFinite(vb, nb);
	}
	return result;
}

PG_FUNCTION_INFO_V1(fann_l2_distance);
Datum
fann_l2_distance(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sql_distance(fcinfo, l2_distance));
}

PG_FUNCTION_INFO_V1(fann_negative_inner_product);
Datum
fann_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sql_distance(fcinfo, negative_inner_product));
}

PG_FUNCTION_INFO_V1(fann_inner_product);
Datum
fann_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(-sql_distance(fcinfo, negative_inner_product));
}

PG_FUNCTION_INFO_V1(fann_cosine_distance);
Datum
fann_cosine_distance(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sql_distance(fcinfo, cosine_distance));
}
