package manifest

// DropEmpty removes from obj, at every depth, the null values a typed object
// carries when converted (creationTimestamp: null means unset as much as an
// absent field), and the maps left empty under a key that empty accepts
// (nil accepts none): so that rendered or imported output shows only what
// was set.
func DropEmpty(obj map[string]any, empty func(key string) bool) {
	for k, v := range obj {
		switch t := v.(type) {
		case nil:
			delete(obj, k)
		case map[string]any:
			DropEmpty(t, empty)
			if len(t) == 0 && empty != nil && empty(k) {
				delete(obj, k)
			}
		case []any:
			for _, e := range t {
				if m, ok := e.(map[string]any); ok {
					DropEmpty(m, empty)
				}
			}
		}
	}
}

// AnyKey accepts every key, for DropEmpty.
func AnyKey(string) bool { return true }
