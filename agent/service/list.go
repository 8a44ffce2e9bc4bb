package service

import (
	"sort"
	"strings"

	"github.com/xenagent/xenagent/agent/store"
)

// Page is which part of a list a call reads. A zero PerPage is the
// seeds' default (100); SortBy is a field name, "-" first for
// descending, "" for id.
type Page struct {
	PerPage, Page int64
	SortBy        string
}

// check applies the seeds' bounds and default.
func (p *Page) check(obj Object) error {
	if p.PerPage == 0 {
		p.PerPage = 100
	}
	if p.PerPage < 1 || p.PerPage > 500 {
		return Invalid(obj, "items_per_page", "must be between 1 and 500")
	}
	if p.Page < 0 {
		return Invalid(obj, "page", "must not be negative")
	}
	if p.Page > maxPage(p.PerPage) {
		return Invalid(obj, "page", "must be at most %d with items_per_page %d (its first item's offset, page × items_per_page, must fit in 63 bits)", maxPage(p.PerPage), p.PerPage)
	}
	return nil
}

// lister reads one kind of record for list and count calls.
type lister[T any] struct {
	obj   Object
	each  func(tx *store.Tx, fn func(*T) bool)
	owner func(*T) int64
	// sortKeys are the sort_by fields; "id" must be one of them.
	sortKeys map[string]func(a, b *T) int
}

// list returns the caller's records that match, sorted and paged; view
// turns each into what the caller gets, in the same read.
func list[T, V any](st *store.Store, l lister[T], c *Caller, match func(*T) bool, p Page, view func(tx *store.Tx, v T) V) ([]V, error) {
	if err := p.check(l.obj); err != nil {
		return nil, err
	}
	less, err := sortBy(l.obj, p.SortBy, l.sortKeys)
	if err != nil {
		return nil, err
	}
	out := []V{}
	st.View(func(tx *store.Tx) {
		hits := l.hits(tx, c, match)
		sort.SliceStable(hits, func(i, j int) bool { return less(hits[i], hits[j]) })
		for _, v := range page(hits, p.PerPage, p.Page) {
			out = append(out, view(tx, *v))
		}
	})
	return out, nil
}

// count is how many of the caller's records match.
func count[T any](st *store.Store, l lister[T], c *Caller, match func(*T) bool) int {
	n := 0
	st.View(func(tx *store.Tx) { n = len(l.hits(tx, c, match)) })
	return n
}

func (l lister[T]) hits(tx *store.Tx, c *Caller, match func(*T) bool) []*T {
	var hits []*T
	l.each(tx, func(v *T) bool {
		if c.owns(l.owner(v)) && match(v) {
			hits = append(hits, v)
		}
		return true
	})
	return hits
}

// sortBy is the order a sort_by value asks for; ties go by id.
func sortBy[T any](obj Object, by string, keys map[string]func(a, b *T) int) (func(a, b *T) bool, error) {
	if by == "" {
		by = "id"
	}
	desc := strings.HasPrefix(by, "-")
	cmp, ok := keys[strings.TrimPrefix(by, "-")]
	if !ok {
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, Invalid(obj, "sort_by", "must be one of %s (prefix '-' for descending)", strings.Join(names, ", "))
	}
	byID := keys["id"]
	return func(a, b *T) bool {
		c := cmp(a, b)
		if c == 0 && byID != nil {
			c = byID(a, b)
		}
		if desc {
			return c > 0
		}
		return c < 0
	}, nil
}

func page[T any](items []T, perPage, page int64) []T {
	// Divide rather than multiply: perPage × page may not fit in an int64.
	n := int64(len(items))
	if perPage < 1 || page < 0 || page > n/perPage || page == n/perPage && n%perPage == 0 {
		return []T{}
	}
	start := perPage * page
	end := min(start+perPage, int64(len(items)))
	return items[start:end]
}
