/*
 * parallel.h
 *	  OpenMP in CREATE INDEX.  Parallel regions run pure computation only: no
 *	  palloc, elog or buffer access; the backend thread checks for interrupts
 *	  between them.
 */
#ifndef FANN_PARALLEL_H
#define FANN_PARALLEL_H

#include "fann.h"

#ifdef _OPENMP
#include <omp.h>
#include <signal.h>
#endif

/* The calling OpenMP thread's number: it picks that thread's scratch */
static inline int
FannThreadNum(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/*
 * Create the build's thread team with every signal blocked, so that the
 * threads never run the backend's signal handlers; the backend thread keeps
 * its own mask, so that cancellation is seen at the interrupt checks between
 * parallel chunks.  OpenMP keeps the team for later regions.
 */
static inline void
FannStartThreads(void)
{
#ifdef _OPENMP
	sigset_t	all,
				old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	omp_set_dynamic(0);
	omp_set_num_threads(fann_build_threads);
#pragma omp parallel
	{
		/* the team is created here */
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
}

#endif							/* FANN_PARALLEL_H */
