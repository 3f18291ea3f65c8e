/*
 * distance.c
 *	  Distance kernels (AVX-512, AVX2+FMA, portable) and the SQL distance
 *	  functions on real[].
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
static void (*code_dot_impl[2]) (const FannIntQuery *q, const FannCodeData *const *rows,
								 int n, int dim, int32 *out);

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
 * Kernels over codes (quant.c): the integer dot product of a code c with
 * the query quantised to 16-bit integers u (zero beyond the dimensions, to
 * a multiple of 32).  A code has 8 bits per dimension, a byte each, or 4:
 * byte 16 b + t then holds dimension 32 b + t in its low half and
 * 32 b + 16 + t in its high half, so that a block of 32 dimensions comes
 * from one 16-byte load.  Integer sums are exact, so every instruction set
 * gives the same bounds (quant.c keeps them within int32).  Each kernel is
 * written once for both widths and instantiated for each (CODE_KERNELS).
 */
static inline int
code_at(const uint8 *code, int j, int bits)
{
	if (bits == 8)
		return code[j];
	return (code[(j / 32) * 16 + j % 16] >> (j % 32 >= 16 ? 4 : 0)) & 15;
}

/* Over dimensions [from, n) */
static inline int32
code_dot_tail(const int16 *u, const uint8 *code, int from, int n, int bits)
{
	int32		s = 0;

	for (int i = from; i < n; i++)
		s += u[i] * code_at(code, i, bits);
	return s;
}

static inline int32
code_dot_generic(const FannIntQuery *q, const uint8 *code, int n, int bits)
{
	return code_dot_tail(q->u, code, 0, n, bits);
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
/*
 * The SIMD code kernels step by 32 dimensions, a 4-bit code's block: the
 * codes of dimensions [i, i + 16) and [i + 16, i + 32), i a multiple of 32,
 * as bytes, from one load and a shift for 4-bit codes
 */
static inline void
code_block(const uint8 *code, int i, int bits, __m128i *a, __m128i *b)
{
	if (bits == 8)
	{
		*a = _mm_loadu_si128((const __m128i *) (code + i));
		*b = _mm_loadu_si128((const __m128i *) (code + i + 16));
	}
	else
	{
		__m128i		v = _mm_loadu_si128((const __m128i *) (code + i / 2));

		*a = _mm_and_si128(v, _mm_set1_epi8(15));
		*b = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15));
	}
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
code_dot_avx2(const FannIntQuery *q, const uint8 *code, int n, int bits)
{
	const int16 *u = q->u;
	__m256i		s = _mm256_setzero_si256();
	__m128i		h;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m128i		a,
					b;

		code_block(code, i, bits, &a, &b);
		s = _mm256_add_epi32(s, madd_avx2(a, u + i));
		s = _mm256_add_epi32(s, madd_avx2(b, u + i + 16));
	}
	h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(h) + code_dot_tail(u, code, i, n, bits);
}

__attribute__((target("avx512f,avx512bw")))
static inline int32
code_dot_avx512(const FannIntQuery *q, const uint8 *code, int n, int bits)
{
	const int16 *u = q->u;
	__m512i		s = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256i		c;

		if (bits == 8)
			c = _mm256_loadu_si256((const __m256i *) (code + i));
		else
		{
			__m128i		a,
						b;

			code_block(code, i, bits, &a, &b);
			c = _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
		}
		s = _mm512_add_epi32(s, _mm512_madd_epi16(_mm512_cvtepu8_epi16(c),
												  _mm512_loadu_si512(u + i)));
	}
	return _mm512_reduce_add_epi32(s) + code_dot_tail(u, code, i, n, bits);
}

/*
 * With VNNI, 64 bytes of codes at a time times the query's bytes, summed in
 * fours into 32 bits (vpdpbusd): <u, c> = 128 <uh, c> + <ul, c>, no
 * widening.  A 4-bit code's 64 bytes hold 128 dimensions, four blocks of 32
 * (distance.c's layout above): its low and high halves, interleaved a block
 * at a time, are dimensions [0, 64) and [64, 128) in order.  The last load
 * is masked to the code's end; the query is zero beyond its dimensions.
 */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static inline __m512i
code_dot_avx512vnni(const FannIntQuery *q, const uint8 *code, int n, int bits)
{
	int			nbytes = bits == 8 ? n : FANN_NIBBLE_BYTES(n);
	__m512i		h = _mm512_setzero_si512();
	__m512i		l = _mm512_setzero_si512();
	__m512i		first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
	__m512i		second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);

	for (int b = 0; b < nbytes; b += 64)
	{
		__mmask64	m = nbytes - b >= 64 ? ~(__mmask64) 0 :
			((__mmask64) 1 << (nbytes - b)) - 1;
		__m512i		v = _mm512_maskz_loadu_epi8(m, code + b);

		if (bits == 8)
		{
			h = _mm512_dpbusd_epi32(h, v, _mm512_loadu_si512(q->uh + b));
			l = _mm512_dpbusd_epi32(l, v, _mm512_loadu_si512(q->ul + b));
		}
		else
		{
			__m512i		lo = _mm512_and_si512(v, _mm512_set1_epi8(15));
			__m512i		hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15));
			__m512i		c0 = _mm512_permutex2var_epi64(lo, first, hi);
			__m512i		c1 = _mm512_permutex2var_epi64(lo, second, hi);

			h = _mm512_dpbusd_epi32(h, c0, _mm512_loadu_si512(q->uh + 2 * b));
			l = _mm512_dpbusd_epi32(l, c0, _mm512_loadu_si512(q->ul + 2 * b));
			h = _mm512_dpbusd_epi32(h, c1, _mm512_loadu_si512(q->uh + 2 * b + 64));
			l = _mm512_dpbusd_epi32(l, c1, _mm512_loadu_si512(q->ul + 2 * b + 64));
		}
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
 * The code kernels of an instruction set over many rows, for 8- and 4-bit
 * codes: the rows lie scattered over shared buffers, each a cache miss, so
 * the rows a few ahead are asked for while one is computed
 */
#define CODE_PREFETCH_AHEAD		4

static inline void
prefetch_row(const FannCodeData *const *rows, int i, int n, int dim, int bits)
{
	Size		size = offsetof(FannCodeData, code) +
		(bits == 8 ? dim : FANN_NIBBLE_BYTES(dim));

	if (i < n)
		for (Size off = 0; off < size; off += 64)
			__builtin_prefetch((const char *) rows[i] + off);
}

#define CODE_KERNELS_BITS(isa, target, bits) \
target static void \
code_dot_##isa##_##bits(const FannIntQuery *q, const FannCodeData *const *rows, int n, int dim, int32 *out) \
{ \
	for (int i = 0; i < n; i++) \
	{ \
		prefetch_row(rows, i + CODE_PREFETCH_AHEAD, n, dim, bits); \
		out[i] = code_dot_##isa(q, rows[i]->code, dim, bits); \
	} \
}
#define CODE_KERNELS(isa, target) \
CODE_KERNELS_BITS(isa, target, 8) \
CODE_KERNELS_BITS(isa, target, 4)

CODE_KERNELS(generic,)
#ifdef FANN_X86
CODE_KERNELS(avx2, __attribute__((target("avx2"))))
CODE_KERNELS(avx512, __attribute__((target("avx512f,avx512bw"))))

/*
 * With VNNI the horizontal sum of a row's lanes would cost as much as its
 * products: four rows are summed together
 */
#define CODE_KERNELS_VNNI(bits) \
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void \
code_dot_avx512vnni_##bits(const FannIntQuery *q, const FannCodeData *const *rows, int n, int dim, int32 *out) \
{ \
	int			i = 0; \
\
	for (; i + 4 <= n; i += 4) \
	{ \
		__m512i		s[4]; \
\
		for (int j = 0; j < 4; j++) \
		{ \
			prefetch_row(rows, i + j + CODE_PREFETCH_AHEAD, n, dim, bits); \
			s[j] = code_dot_avx512vnni(q, rows[i + j]->code, dim, bits); \
		} \
		_mm_storeu_si128((__m128i *) (out + i), reduce4_avx512(s[0], s[1], s[2], s[3])); \
	} \
	for (; i < n; i++) \
		out[i] = _mm512_reduce_add_epi32(code_dot_avx512vnni(q, rows[i]->code, dim, bits)); \
}
CODE_KERNELS_VNNI(8)
CODE_KERNELS_VNNI(4)
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
	code_dot_impl[0] = code_dot_generic_8;
	code_dot_impl[1] = code_dot_generic_4;
#ifdef FANN_X86
	if (simd == FANN_SIMD_AVX512 || simd == FANN_SIMD_AVX512VNNI)
	{
		l2sq_impl = l2sq_avx512;
		dot_impl = dot_avx512;
		cosine_impl = cosine_avx512;
		code_dot_impl[0] = code_dot_avx512_8;
		code_dot_impl[1] = code_dot_avx512_4;
		if (simd == FANN_SIMD_AVX512VNNI)
		{
			code_dot_impl[0] = code_dot_avx512vnni_8;
			code_dot_impl[1] = code_dot_avx512vnni_4;
		}
	}
	else if (simd == FANN_SIMD_AVX2)
	{
		l2sq_impl = l2sq_avx2;
		dot_impl = dot_avx2;
		cosine_impl = cosine_avx2;
		code_dot_impl[0] = code_dot_avx2_8;
		code_dot_impl[1] = code_dot_avx2_4;
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
 * The integer dot products of a quantised query with the codes (8 or 4
 * bits per dimension) of n rows, for quant.c
 */
void
FannCodeDotRows(const FannIntQuery *q, const FannCodeData *const *rows, int n,
				int dim, int bits, int32 *out)
{
	code_dot_impl[bits == 4] (q, rows, n, dim, out);
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
