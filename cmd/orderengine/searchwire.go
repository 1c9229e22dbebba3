package main

// The search backends register their URL schemes with search.Open.
import (
	_ "github.com/orderengine/orderengine/search/elastic"   // http(s):// search URLs
	_ "github.com/orderengine/orderengine/search/sqlsearch" // the read-model database
)
