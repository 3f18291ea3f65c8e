/*
 * keep.c
 *	  A search's memory, kept for the backend's next search of its kind.
 *
 * A search fills heaps of a few hundred kilobytes; freed, malloc handed
 * them back to the kernel and the next query took them again as page
 * faults: a sixth of a graph search's time (perf, SIFT containment at ef
 * 256), as much as the ivf probe's own instructions (perf, unfiltered
 * GloVe).  So each kind of search keeps one finished state, in a memory
 * context of its own under TopMemoryContext, and the next search takes it
 * with its arrays.  A search that ends by an error gives its state back
 * through a reset callback on the context it was started in (the ticket),
 * so none is lost; a state grown past FANN_KEPT_BYTES is freed instead.
 */
#include "postgres.h"

#include "search.h"
#include "utils/memutils.h"

/* A finished search's memory is kept for the next one up to this size */
#define FANN_KEPT_BYTES		(8 * 1024 * 1024)

struct FannStateTicket
{
	MemoryContextCallback callback;
	FannSearch *state;			/* NULL once the search has ended */
};

/* Keep state for its kind's next search, or free it */
static void
keep_or_free(FannSearch *state)
{
	FannStateKeeper *keeper = state->keeper;

	if (keeper->clear != NULL)
		keeper->clear(state);
	if (keeper->kept == NULL && MemoryContextMemAllocated(state->cxt, true) <= FANN_KEPT_BYTES)
		keeper->kept = state;
	else
		MemoryContextDelete(state->cxt);
}

static void
release_on_reset(void *arg)
{
	FannStateTicket *ticket = arg;

	if (ticket->state != NULL)
		keep_or_free(ticket->state);
}

/*
 * A zeroed state of keeper's kind, in its own context (state->cxt); *last
 * (keeper->size bytes) receives the kept state it replaces, zeroed if
 * none, so that the caller takes over its arrays (FannHeapReuse), which
 * lie in that context.
 */
FannSearch *
FannStateTake(FannStateKeeper *keeper, FannSearch *last)
{
	FannSearch *state = keeper->kept;
	MemoryContext cxt;

	if (state != NULL)
	{
		keeper->kept = NULL;
		memcpy(last, state, keeper->size);
		cxt = state->cxt;
	}
	else
	{
		cxt = AllocSetContextCreate(TopMemoryContext, "fann search", ALLOCSET_DEFAULT_SIZES);
		MemoryContextSetIdentifier(cxt, keeper->name);
		state = MemoryContextAlloc(cxt, keeper->size);
		memset(last, 0, keeper->size);
	}
	memset(state, 0, keeper->size);
	state->keeper = keeper;
	state->cxt = cxt;
	state->ticket = palloc(sizeof(FannStateTicket));
	state->ticket->state = state;
	state->ticket->callback.func = release_on_reset;
	state->ticket->callback.arg = state->ticket;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &state->ticket->callback);
	return state;
}

/* End a search whose state FannStateTake made: kept or freed */
void
FannStateRelease(FannSearch *state)
{
	state->ticket->state = NULL;
	keep_or_free(state);
}
