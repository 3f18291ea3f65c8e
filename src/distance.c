/*
 * distance.c
 *	  Distance kernels (AVX-512, AVX2+FMA, portable) and the SQL distance
 *	  functions on real[].
 *
 * The SQL functions call these kernels, and the index the code kernels,
 * whose bounds (quant.c) allow for the rounding of both, so an index scan
 * never hands out a bound above the distance the executor then computes.
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
	FANN_SIMD_AVX512
} FannSimd;

static const struct config_enum_entry fann_simd_options[] = {
	{"auto", FANN_SIMD_AUTO, false},
	{"generic", FANN_SIMD_GENERIC, false},
	{"avx2", FANN_SIMD_AVX2, false},
	{"avx512", FANN_SIMD_AVX512, false},
	{NULL, 0, false}
};

static int	fann_simd = FANN_SIMD_AUTO;

/* The primitives every metric is built from, set by FannSetSimd() */
static float (*l2sq_impl) (const float *a, const float *b, int n);
static float (*dot_impl) (const float *a, const float *b, int n);
static void (*cosine_impl) (const float *a, const float *b, int n,
							float *ab, float *aa, float *bb);
static void (*code_l2sq_impl[2]) (const float *q, const FannCodeData *const *rows,
								  int n, int dim, double *out);
static void (*code_dot_impl[2]) (const float *q, const FannCodeData *const *rows,
								 int n, int dim, double *out);

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
 * Kernels over codes (quant.c): sum of (q - lo - step c)^2, and <q, c>.
 * A code has 8 bits per dimension, a byte each, or 4: byte 16 b + t then
 * holds dimension 32 b + t in its low half and 32 b + 16 + t in its high
 * half, so that 16 consecutive dimensions widen from one 16-byte load.
 * Each kernel is written once for both widths and instantiated for each
 * (CODE_KERNELS), the width a constant then.
 */
static inline int
code_at(const uint8 *code, int j, int bits)
{
	if (bits == 8)
		return code[j];
	return (code[(j / 32) * 16 + j % 16] >> (j % 32 >= 16 ? 4 : 0)) & 15;
}

/* Over dimensions [from, n), in eight partial sums the compiler vectorises */
static inline float
code_l2sq_tail(const float *q, float lo, float step, const uint8 *code,
			   int from, int n, int bits)
{
	float		s[8] = {0};
	int			i = from;

	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
		{
			float		d = (q[i + j] - lo) - step * code_at(code, i + j, bits);

			s[j] += d * d;
		}
	for (; i < n; i++)
	{
		float		d = (q[i] - lo) - step * code_at(code, i, bits);

		s[0] += d * d;
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static inline float
code_dot_tail(const float *qs, const uint8 *code, int from, int n, int bits)
{
	float		s[8] = {0};
	int			i = from;

	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			s[j] += qs[i + j] * code_at(code, i + j, bits);
	for (; i < n; i++)
		s[0] += qs[i] * code_at(code, i, bits);
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static inline float
code_l2sq_generic(const float *q, float lo, float step, const uint8 *code, int n, int bits)
{
	return code_l2sq_tail(q, lo, step, code, 0, n, bits);
}

static inline float
code_dot_generic(const float *qs, const uint8 *code, int n, int bits)
{
	return code_dot_tail(qs, code, 0, n, bits);
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

/* The low (half 0) or high 8 of 16 code bytes widened to floats */
__attribute__((target("avx2,fma")))
static inline __m256
widen_avx2(__m128i v, int half)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(half ? _mm_srli_si128(v, 8) : v));
}

/* q - lo - step c over 8 dimensions from q */
__attribute__((target("avx2,fma")))
static inline __m256
diff_avx2(const float *q, __m256 vlo, __m256 vstep, __m256 c)
{
	return _mm256_fnmadd_ps(vstep, c, _mm256_sub_ps(_mm256_loadu_ps(q), vlo));
}

__attribute__((target("avx2,fma")))
static inline float
code_l2sq_avx2(const float *q, float lo, float step, const uint8 *code, int n, int bits)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps();
	__m256		vlo = _mm256_set1_ps(lo),
				vstep = _mm256_set1_ps(step);
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m128i		a,
					b;
		__m256		d0,
					d1,
					d2,
					d3;

		code_block(code, i, bits, &a, &b);
		d0 = diff_avx2(q + i, vlo, vstep, widen_avx2(a, 0));
		d1 = diff_avx2(q + i + 8, vlo, vstep, widen_avx2(a, 1));
		d2 = diff_avx2(q + i + 16, vlo, vstep, widen_avx2(b, 0));
		d3 = diff_avx2(q + i + 24, vlo, vstep, widen_avx2(b, 1));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s0 = _mm256_fmadd_ps(d2, d2, s0);
		s1 = _mm256_fmadd_ps(d3, d3, s1);
	}
	return hsum256(_mm256_add_ps(s0, s1)) + code_l2sq_tail(q, lo, step, code, i, n, bits);
}

__attribute__((target("avx2,fma")))
static inline float
code_dot_avx2(const float *qs, const uint8 *code, int n, int bits)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m128i		a,
					b;

		code_block(code, i, bits, &a, &b);
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(qs + i), widen_avx2(a, 0), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(qs + i + 8), widen_avx2(a, 1), s1);
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(qs + i + 16), widen_avx2(b, 0), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(qs + i + 24), widen_avx2(b, 1), s1);
	}
	return hsum256(_mm256_add_ps(s0, s1)) + code_dot_tail(qs, code, i, n, bits);
}

/* 16 code bytes widened to floats */
__attribute__((target("avx512f")))
static inline __m512
widen_avx512(__m128i v)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
}

/* q - lo - step c over 16 dimensions from q */
__attribute__((target("avx512f")))
static inline __m512
diff_avx512(const float *q, __m512 vlo, __m512 vstep, __m512 c)
{
	return _mm512_fnmadd_ps(vstep, c, _mm512_sub_ps(_mm512_loadu_ps(q), vlo));
}

__attribute__((target("avx512f")))
static inline float
code_l2sq_avx512(const float *q, float lo, float step, const uint8 *code, int n, int bits)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps();
	__m512		vlo = _mm512_set1_ps(lo),
				vstep = _mm512_set1_ps(step);
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m128i		a,
					b;
		__m512		d0,
					d1;

		code_block(code, i, bits, &a, &b);
		d0 = diff_avx512(q + i, vlo, vstep, widen_avx512(a));
		d1 = diff_avx512(q + i + 16, vlo, vstep, widen_avx512(b));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) +
		code_l2sq_tail(q, lo, step, code, i, n, bits);
}

__attribute__((target("avx512f")))
static inline float
code_dot_avx512(const float *qs, const uint8 *code, int n, int bits)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m128i		a,
					b;

		code_block(code, i, bits, &a, &b);
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(qs + i), widen_avx512(a), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(qs + i + 16), widen_avx512(b), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) + code_dot_tail(qs, code, i, n, bits);
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
code_l2sq_##isa##_##bits(const float *q, const FannCodeData *const *rows, int n, int dim, double *out) \
{ \
	for (int i = 0; i < n; i++) \
	{ \
		prefetch_row(rows, i + CODE_PREFETCH_AHEAD, n, dim, bits); \
		out[i] = code_l2sq_##isa(q, rows[i]->lo, rows[i]->step, rows[i]->code, dim, bits); \
	} \
} \
target static void \
code_dot_##isa##_##bits(const float *q, const FannCodeData *const *rows, int n, int dim, double *out) \
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
CODE_KERNELS(avx2, __attribute__((target("avx2,fma"))))
CODE_KERNELS(avx512, __attribute__((target("avx512f"))))
#endif

static bool
simd_supported(int simd)
{
#ifdef FANN_X86
	if (simd == FANN_SIMD_AVX512)
		return __builtin_cpu_supports("avx512f");
	if (simd == FANN_SIMD_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	return simd == FANN_SIMD_GENERIC;
}

static void
set_kernels(int simd)
{
	if (simd == FANN_SIMD_AUTO)
		simd = simd_supported(FANN_SIMD_AVX512) ? FANN_SIMD_AVX512 :
			simd_supported(FANN_SIMD_AVX2) ? FANN_SIMD_AVX2 : FANN_SIMD_GENERIC;

	l2sq_impl = l2sq_generic;
	dot_impl = dot_generic;
	cosine_impl = cosine_generic;
	code_l2sq_impl[0] = code_l2sq_generic_8;
	code_l2sq_impl[1] = code_l2sq_generic_4;
	code_dot_impl[0] = code_dot_generic_8;
	code_dot_impl[1] = code_dot_generic_4;
#ifdef FANN_X86
	if (simd == FANN_SIMD_AVX512)
	{
		l2sq_impl = l2sq_avx512;
		dot_impl = dot_avx512;
		cosine_impl = cosine_avx512;
		code_l2sq_impl[0] = code_l2sq_avx512_8;
		code_l2sq_impl[1] = code_l2sq_avx512_4;
		code_dot_impl[0] = code_dot_avx512_8;
		code_dot_impl[1] = code_dot_avx512_4;
	}
	else if (simd == FANN_SIMD_AVX2)
	{
		l2sq_impl = l2sq_avx2;
		dot_impl = dot_avx2;
		cosine_impl = cosine_avx2;
		code_l2sq_impl[0] = code_l2sq_avx2_8;
		code_l2sq_impl[1] = code_l2sq_avx2_4;
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
 * Kernels over the codes (8 or 4 bits per dimension) of n rows, for quant.c:
 * sum of (q - x^)^2, and <q, code> (x^ = lo + step code)
 */
void
FannCodeL2sqRows(const float *q, const FannCodeData *const *rows, int n, int dim,
				 int bits, double *out)
{
	code_l2sq_impl[bits == 4] (q, rows, n, dim, out);
}

void
FannCodeDotRows(const float *q, const FannCodeData *const *rows, int n, int dim,
				int bits, double *out)
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
