//! Condition table: each case checked against MongoDB's documentation.
//!
//! Sources named in the cases:
//! - [null]: manual, "Query for Null or Missing Fields";
//! - [array]: manual, "Query an Array"; [array-docs]: "Query an Array of Embedded Documents";
//! - [embedded]: manual, "Query on Embedded/Nested Documents";
//! - [order]: manual, "Comparison/Sort Order" (BSON types);
//! - [$op]: the manual's reference page of that operator;
//! - [jstest]: `jstests/core/null_query_semantics.js` in mongodb/mongo, the server's
//!   own test of null/missing/array semantics, where the manual is silent;
//! - [path.cpp]: `src/mongo/db/matcher/path.cpp` in mongodb/mongo (how a path walks
//!   arrays), where neither says more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::problem::Problem;
use proptest::prelude::*;
use serde_json::json;

/// `(name, query, document, expected)`.
type Case<'a> = (&'a str, Value, Value, bool);

fn check_table(table: &[Case]) {
    for (name, query, document, expected) in table {
        let condition = Condition::compile(query)
            .unwrap_or_else(|problems| panic!("case {name:?}: {query} does not compile: {problems:?}"));
        assert_eq!(
            condition.matches(document),
            *expected,
            "case {name:?}: {query} against {document} should be {expected}"
        );
    }
}

#[test]
fn equality_on_a_missing_field_matches_null() {
    assert!(Condition::compile(&json!({"a": null})).unwrap().matches(&json!({})));
}

#[test]
fn equality_null_and_missing() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("empty query matches any document", json!({}), json!({"a": 1}), true),
        ("empty query matches the empty document", json!({}), json!({}), true),
        ("scalar equality", json!({"a": "x"}), json!({"a": "x"}), true),
        ("scalar inequality", json!({"a": "x"}), json!({"a": "y"}), false),
        ("string \"1\" is not number 1 (types differ)", json!({"a": "1"}), json!({"a": 1}), false),
        ("false is not 0", json!({"a": false}), json!({"a": 0}), false),
        ("true is not 1", json!({"a": true}), json!({"a": 1}), false),
        ("$eq with a string is literal, not a regex [$eq]", json!({"a": {"$eq": "^a"}}), json!({"a": "apple"}), false),
        ("$eq equals implicit equality", json!({"a": {"$eq": 5}}), json!({"a": 5}), true),
        ("implicit $and of two fields, both hold", json!({"a": 1, "b": 2}), json!({"a": 1, "b": 2}), true),
        ("implicit $and of two fields, one fails", json!({"a": 1, "b": 2}), json!({"a": 1, "b": 3}), false),
        ("null matches a null field [null: equality filter]", json!({"a": null}), json!({"a": null}), true),
        ("null matches a missing field [null: equality filter]", json!({"a": null}), json!({"b": 1}), true),
        ("null does not match 0", json!({"a": null}), json!({"a": 0}), false),
        ("null does not match false", json!({"a": null}), json!({"a": false}), false),
        ("null does not match the empty string", json!({"a": null}), json!({"a": ""}), false),
        ("null does not match an empty object", json!({"a": null}), json!({"a": {}}), false),
        ("$eq null matches a missing field [jstest]", json!({"a": {"$eq": null}}), json!({}), true),
        ("null matches an array holding null [jstest: a_value_array_with_null]", json!({"a": null}), json!({"a": [1, "string", null, 4]}), true),
        ("null matches an array of nulls [jstest: a_value_array_all_nulls]", json!({"a": null}), json!({"a": [null, null]}), true),
        ("null does not match an empty array [jstest: a_empty_array]", json!({"a": null}), json!({"a": []}), false),
        ("null does not match an array without null [jstest]", json!({"a": null}), json!({"a": [1, "string", 4]}), false),
        ("$ne null: the field exists and is not null [null: non-equality filter]", json!({"a": {"$ne": null}}), json!({"a": 1}), true),
        ("$ne null does not match a missing field [null]", json!({"a": {"$ne": null}}), json!({}), false),
        ("$ne null does not match null", json!({"a": {"$ne": null}}), json!({"a": null}), false),
        ("$ne null matches an empty array [jstest: a_empty_array]", json!({"a": {"$ne": null}}), json!({"a": []}), true),
        ("$ne null does not match an array holding null [jstest]", json!({"a": {"$ne": null}}), json!({"a": [1, null]}), false),
        ("$ne includes documents without the field [$ne]", json!({"quantity": {"$ne": 20}}), json!({"item": "nuts"}), true),
        ("$ne on a different value", json!({"quantity": {"$ne": 20}}), json!({"quantity": 30}), true),
        ("$ne on the same value", json!({"quantity": {"$ne": 20}}), json!({"quantity": 20}), false),
        ("$ne 20 against 20.0: numbers by value", json!({"quantity": {"$ne": 20}}), json!({"quantity": 20.0}), false),
        ("$ne does no type bracketing: string is not 5 [$ne]", json!({"a": {"$ne": 5}}), json!({"a": "5"}), true),
        ("$ne on an embedded field includes a missing parent [$ne]", json!({"carrier.fee": {"$ne": 1}}), json!({"item": "x"}), true),
        ("dotted null: the parent is a scalar [jstest: a_number]", json!({"a.b": null}), json!({"a": 4}), true),
        ("dotted null: the parent is null [jstest: a_null]", json!({"a.b": null}), json!({"a": null}), true),
        ("dotted null: the parent is an empty object [jstest]", json!({"a.b": null}), json!({"a": {}}), true),
        ("dotted null: the parent is missing [jstest: no_a]", json!({"a.b": null}), json!({}), true),
        ("dotted null: b is set", json!({"a.b": null}), json!({"a": {"b": "hi"}}), false),
        // Surprising: scalars inside an array hold no fields, so nothing is reached, and null does not match.
        ("dotted null does not match an array of scalars [jstest: a_value_array_no_nulls]", json!({"a.b": null}), json!({"a": [1, "string", 4]}), false),
        ("dotted null does not match an array whose null is a scalar [jstest: a_value_array_with_null]", json!({"a.b": null}), json!({"a": [1, null]}), false),
        ("dotted null does not match an array of nulls [jstest: a_value_array_all_nulls]", json!({"a.b": null}), json!({"a": [null, null]}), false),
        ("dotted null does not match an empty array [jstest: a_empty_array]", json!({"a.b": null}), json!({"a": []}), false),
        ("dotted null does not match an array of arrays [jstest: a_double_array]", json!({"a.b": null}), json!({"a": [[]]}), false),
        ("dotted null: one object element lacks b [jstest: a_object_array_some_b_missing]", json!({"a.b": null}), json!({"a": [{"b": 3}, {}]}), true),
        ("dotted null: one object element has b null [jstest]", json!({"a.b": null}), json!({"a": [{"b": null}, {"b": 3}]}), true),
        ("dotted null: every object element has b [jstest: a_object_array_no_b_nulls]", json!({"a.b": null}), json!({"a": [{"b": 1}, {"b": 3}]}), false),
        ("dotted $ne null: only a non-null b [jstest]", json!({"a.b": {"$ne": null}}), json!({"a": {"b": "hi"}}), true),
        ("dotted $ne null: a scalar parent means b is null [jstest]", json!({"a.b": {"$ne": null}}), json!({"a": 4}), false),
        ("dotted $ne null matches an array of scalars [jstest]", json!({"a.b": {"$ne": null}}), json!({"a": [1, "string", 4]}), true),
        ("dotted $ne null matches an empty array [jstest]", json!({"a.b": {"$ne": null}}), json!({"a": []}), true),
        ("dotted $ne null: one object lacks b [jstest]", json!({"a.b": {"$ne": null}}), json!({"a": [{"b": 3}, {}]}), false),
        ("$or of null and a value matches missing [jstest: testOrNullQuery]", json!({"$or": [{"a": null}, {"a": 4}]}), json!({}), true),
    ];
    check_table(table);
}

#[test]
fn comparison_numbers_and_type_bracketing() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("$gt above", json!({"a": {"$gt": 1}}), json!({"a": 2}), true),
        ("$gt equal", json!({"a": {"$gt": 1}}), json!({"a": 1}), false),
        ("$gte equal", json!({"a": {"$gte": 1}}), json!({"a": 1}), true),
        ("$lt below", json!({"a": {"$lt": 1}}), json!({"a": 0}), true),
        ("$lt equal", json!({"a": {"$lt": 1}}), json!({"a": 1}), false),
        ("$lte equal", json!({"a": {"$lte": 1}}), json!({"a": 1}), true),
        ("$gt and $lt together: in range", json!({"a": {"$gt": 1, "$lt": 5}}), json!({"a": 3}), true),
        ("$gt and $lt together: out of range", json!({"a": {"$gt": 1, "$lt": 5}}), json!({"a": 5}), false),
        ("1 equals 1.0 [order: numbers are converted before comparison]", json!({"a": 1}), json!({"a": 1.0}), true),
        ("1.0 equals 1", json!({"a": 1.0}), json!({"a": 1}), true),
        ("$gt an integer, double above", json!({"a": {"$gt": 1}}), json!({"a": 1.5}), true),
        ("$lt a double, integer below", json!({"a": {"$lt": 2.5}}), json!({"a": 2}), true),
        ("$gte a double equal to an integer", json!({"a": {"$gte": 2.0}}), json!({"a": 2}), true),
        ("negative numbers", json!({"a": {"$gt": -1}}), json!({"a": 0}), true),
        ("u64 beyond i64 is greater than i64::MAX", json!({"a": {"$gt": 9_223_372_036_854_775_807_i64}}), json!({"a": 18_446_744_073_709_551_615_u64}), true),
        ("a negative integer is less than a huge u64", json!({"a": {"$lt": 18_446_744_073_709_551_615_u64}}), json!({"a": -1}), true),
        ("type bracketing: $gt a number never matches a string [$gt]", json!({"a": {"$gt": 1}}), json!({"a": "2"}), false),
        ("type bracketing: $lt a string never matches a number though numbers sort first [order]", json!({"a": {"$lt": "b"}}), json!({"a": 1}), false),
        ("type bracketing: $gt a number never matches a boolean", json!({"a": {"$gt": 0}}), json!({"a": true}), false),
        ("type bracketing: $lte a number never matches null", json!({"a": {"$lte": 1}}), json!({"a": null}), false),
        ("strings compare by code point", json!({"a": {"$gt": "a"}}), json!({"a": "b"}), true),
        ("strings compare binary: lowercase after uppercase", json!({"a": {"$gt": "Z"}}), json!({"a": "a"}), true),
        ("string prefix is smaller", json!({"a": {"$lt": "abc"}}), json!({"a": "ab"}), true),
        ("booleans: true > false", json!({"a": {"$gt": false}}), json!({"a": true}), true),
        ("missing is not $gt anything", json!({"a": {"$gt": 1}}), json!({}), false),
        ("missing is not $lt anything", json!({"a": {"$lt": 1}}), json!({}), false),
        ("$gte null matches a missing field [jstest: $not $gte null excludes no_a]", json!({"a": {"$gte": null}}), json!({}), true),
        ("$gte null matches null", json!({"a": {"$gte": null}}), json!({"a": null}), true),
        ("$lte null matches a missing field", json!({"a": {"$lte": null}}), json!({}), true),
        ("$gt null matches nothing, not even null", json!({"a": {"$gt": null}}), json!({"a": null}), false),
        ("$lt null does not match a missing field", json!({"a": {"$lt": null}}), json!({}), false),
        ("$gte null does not match a number", json!({"a": {"$gte": null}}), json!({"a": 4}), false),
        ("$gte null does not match an empty array [jstest: a_empty_array]", json!({"a": {"$gte": null}}), json!({"a": []}), false),
        ("$gte null matches an array holding null [jstest]", json!({"a": {"$gte": null}}), json!({"a": [1, null]}), true),
        ("array: one element $gt [array: element meets the condition]", json!({"dim_cm": {"$gt": 25}}), json!({"dim_cm": [22.85, 30]}), true),
        ("array: no element $gt [array]", json!({"dim_cm": {"$gt": 25}}), json!({"dim_cm": [14, 21]}), false),
        // Surprising: without $elemMatch, each condition may be met by a different element.
        ("array: $gt and $lt met by different elements [array: compound filter]", json!({"dim_cm": {"$gt": 15, "$lt": 20}}), json!({"dim_cm": [14, 21]}), true),
        ("array: $gt and $lt, one element each [array]", json!({"dim_cm": {"$gt": 15, "$lt": 20}}), json!({"dim_cm": [10, 15.25]}), true),
        ("array: $lt met by no element [array: planner]", json!({"dim_cm": {"$gt": 15, "$lt": 20}}), json!({"dim_cm": [22.85, 30]}), false),
        ("array bound: the whole array compares as an array", json!({"a": {"$gte": [1, 2]}}), json!({"a": [1, 2]}), true),
        ("array bound: arrays compare element by element", json!({"a": {"$gt": [1]}}), json!({"a": [2]}), true),
        ("array bound: a number field is another type", json!({"a": {"$gt": [1]}}), json!({"a": 2}), false),
        ("objects compare field by field", json!({"a": {"$gt": {"x": 1}}}), json!({"a": {"x": 2}}), true),
        // Surprising: [order] compares the field types before the field names and values.
        ("objects compare field types first: string > number [order]", json!({"a": {"$gt": {"x": 100}}}), json!({"a": {"x": "a"}}), true),
        ("objects compare field names after types [order]", json!({"a": {"$gt": {"x": 1}}}), json!({"a": {"y": 0}}), true),
        ("an object with more fields is greater [order]", json!({"a": {"$gt": {"x": 1}}}), json!({"a": {"x": 1, "y": 0}}), true),
        ("objects: $lt is false when greater", json!({"a": {"$lt": {"x": 1}}}), json!({"a": {"x": 2}}), false),
    ];
    check_table(table);
}

#[test]
fn in_and_nin() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("$in one of the values [$in]", json!({"quantity": {"$in": [5, 15]}}), json!({"quantity": 15}), true),
        ("$in none of the values", json!({"quantity": {"$in": [5, 15]}}), json!({"quantity": 20}), false),
        ("$in a missing field", json!({"quantity": {"$in": [5, 15]}}), json!({}), false),
        ("$in an empty list matches nothing", json!({"a": {"$in": []}}), json!({"a": 1}), false),
        ("$in numbers by value", json!({"a": {"$in": [2.0]}}), json!({"a": 2}), true),
        ("$in on an array: one element is in the list [$in]", json!({"tags": {"$in": ["home", "school"]}}), json!({"tags": ["school", "storage", "home"]}), true),
        ("$in on an array: no element is in the list", json!({"tags": {"$in": ["home", "school"]}}), json!({"tags": ["garden"]}), false),
        ("$in [null] matches a missing field [jstest: testInNullQuery]", json!({"a": {"$in": [null, 4]}}), json!({}), true),
        ("$in [null, 4] does not match an empty object [jstest]", json!({"a": {"$in": [null, 4]}}), json!({"a": {}}), false),
        ("$in a whole array value", json!({"a": {"$in": [[1, 2]]}}), json!({"a": [1, 2]}), true),
        ("$in an array that is an element", json!({"a": {"$in": [[1, 2]]}}), json!({"a": [[1, 2], 3]}), true),
        ("$in an embedded document", json!({"a": {"$in": [{"b": 1}]}}), json!({"a": {"b": 1}}), true),
        ("$in a string is not a regex", json!({"a": {"$in": ["^a"]}}), json!({"a": "apple"}), false),
        ("$nin none of the values [$nin]", json!({"quantity": {"$nin": [5, 15]}}), json!({"quantity": 20}), true),
        ("$nin one of the values", json!({"quantity": {"$nin": [5, 15]}}), json!({"quantity": 5}), false),
        ("$nin matches a missing field [$nin: or the field does not exist]", json!({"quantity": {"$nin": [5, 15]}}), json!({}), true),
        ("$nin [null] excludes a missing field", json!({"a": {"$nin": [null]}}), json!({}), false),
        ("$nin [null, 4] matches an empty object [jstest: testNotInNullQuery]", json!({"a": {"$nin": [null, 4]}}), json!({"a": {}}), true),
        ("$nin on an array holding a listed value [$nin]", json!({"tags": {"$nin": ["school"]}}), json!({"tags": ["school", "home"]}), false),
        ("$nin on an array holding no listed value [$nin]", json!({"tags": {"$nin": ["school"]}}), json!({"tags": ["home"]}), true),
        ("$nin an empty list matches everything", json!({"a": {"$nin": []}}), json!({"a": 1}), true),
        ("$nin an empty list matches a missing field", json!({"a": {"$nin": []}}), json!({}), true),
        ("dotted $nin [null, 75] matches an array of scalars [jstest: testDottedNotInNullQuery]", json!({"a.b": {"$nin": [null, 75]}}), json!({"a": [1, "string", 4]}), true),
        ("dotted $in [null, 75] matches an object lacking b [jstest: testDottedInNullQuery]", json!({"a.b": {"$in": [null, 75]}}), json!({"a": [{"b": 3}, {}]}), true),
    ];
    check_table(table);
}

#[test]
fn exists() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("$exists true on a present field", json!({"a": {"$exists": true}}), json!({"a": 1}), true),
        ("$exists true matches a null value [$exists]", json!({"a": {"$exists": true}}), json!({"a": null}), true),
        ("$exists true on a missing field", json!({"a": {"$exists": true}}), json!({}), false),
        ("$exists false on a missing field [jstest: testExistsFalse]", json!({"a": {"$exists": false}}), json!({}), true),
        ("$exists false does not match null [jstest: testExistsFalse]", json!({"a": {"$exists": false}}), json!({"a": null}), false),
        ("$exists true on an empty array", json!({"a": {"$exists": true}}), json!({"a": []}), true),
        ("$exists true on an embedded null", json!({"a.b": {"$exists": true}}), json!({"a": {"b": null}}), true),
        ("$exists false when the parent is a scalar [jstest: testDottedExistsFalse]", json!({"a.b": {"$exists": false}}), json!({"a": 4}), true),
        ("$exists false when the parent is an empty object [jstest]", json!({"a.b": {"$exists": false}}), json!({"a": {}}), true),
        ("$exists false when b is null [jstest]", json!({"a.b": {"$exists": false}}), json!({"a": {"b": null}}), false),
        ("$exists through an array: one element has b", json!({"a.b": {"$exists": true}}), json!({"a": [{"c": 1}, {"b": 2}]}), true),
        ("$exists false through an array: one element has b", json!({"a.b": {"$exists": false}}), json!({"a": [{"c": 1}, {"b": 2}]}), false),
        ("$exists false through an array of scalars", json!({"a.b": {"$exists": false}}), json!({"a": [1, 2]}), true),
        ("$exists 1 means true", json!({"a": {"$exists": 1}}), json!({"a": 0}), true),
        ("$exists 0 means false", json!({"a": {"$exists": 0}}), json!({"a": 0}), false),
    ];
    check_table(table);
}

#[test]
fn regex_and_options() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("like %789 [$regex: LIKE match]", json!({"sku": {"$regex": "789$"}}), json!({"sku": "abc789"}), true),
        ("like %789, no match", json!({"sku": {"$regex": "789$"}}), json!({"sku": "xyz456"}), false),
        ("unanchored pattern matches anywhere", json!({"a": {"$regex": "cme"}}), json!({"a": "acme"}), true),
        ("case-sensitive by default", json!({"sku": {"$regex": "^ABC"}}), json!({"sku": "abc123"}), false),
        ("i: case-insensitive [$regex]", json!({"sku": {"$regex": "^ABC", "$options": "i"}}), json!({"sku": "abc123"}), true),
        ("$options may come before $regex", json!({"sku": {"$options": "i", "$regex": "^ABC"}}), json!({"sku": "abc123"}), true),
        ("without m, ^ anchors at the start of the string [$regex: multiline]", json!({"d": {"$regex": "^S"}}), json!({"d": "First line\nSecond line"}), false),
        ("m: ^ anchors at each line [$regex: multiline]", json!({"d": {"$regex": "^S", "$options": "m"}}), json!({"d": "First line\nSecond line"}), true),
        ("no anchor: matches the string as a whole [$regex]", json!({"d": {"$regex": "S"}}), json!({"d": "First line\nSecond line"}), true),
        ("s: dot matches newline [$regex: dot character]", json!({"d": {"$regex": "m.*line", "$options": "si"}}), json!({"d": "Multiple\nline description"}), true),
        ("without s, dot stops at newline [$regex]", json!({"d": {"$regex": "m.*line", "$options": "i"}}), json!({"d": "Multiple\nline description"}), false),
        ("x: whitespace and # comments ignored [$regex: ignore white spaces]", json!({"sku": {"$regex": "abc #category code\n123 #item number", "$options": "x"}}), json!({"sku": "abc123"}), true),
        ("u is accepted and changes nothing (patterns are Unicode)", json!({"a": {"$regex": "^é", "$options": "u"}}), json!({"a": "été"}), true),
        ("inline (?i)…(?-i) [$regex: PCRE vs JavaScript]", json!({"name": {"$regex": "(?i)a(?-i)cme"}}), json!({"name": "Acme"}), true),
        ("inline (?-i) keeps the rest case-sensitive", json!({"name": {"$regex": "(?i)a(?-i)cme"}}), json!({"name": "ACME"}), false),
        ("$regex with $nin in the same field [$regex: implicit AND]", json!({"name": {"$regex": "acme.*corp", "$options": "i", "$nin": ["acmeblahcorp"]}}), json!({"name": "AcmeXCorp"}), true),
        ("$regex with $nin, excluded value [$regex: implicit AND]", json!({"name": {"$regex": "acme.*corp", "$options": "i", "$nin": ["acmeblahcorp"]}}), json!({"name": "acmeblahcorp"}), false),
        ("$regex only matches strings: not a number", json!({"a": {"$regex": "1"}}), json!({"a": 1}), false),
        ("$regex on a missing field", json!({"a": {"$regex": ".*"}}), json!({}), false),
        ("$regex on null", json!({"a": {"$regex": ".*"}}), json!({"a": null}), false),
        ("$regex on an array: one element matches", json!({"tags": {"$regex": "^b"}}), json!({"tags": ["a", "bc"]}), true),
        ("$regex on an array: no element matches", json!({"tags": {"$regex": "^b"}}), json!({"tags": ["a", "c"]}), false),
        ("$regex through an array of documents", json!({"a.b": {"$regex": "^x"}}), json!({"a": [{"b": "y"}, {"b": "xz"}]}), true),
        ("$not $regex on a match [$regex and $not]", json!({"item": {"$not": {"$regex": "^p.*"}}}), json!({"item": "pen"}), false),
        ("$not $regex on a non-match [$regex and $not]", json!({"item": {"$not": {"$regex": "^p.*"}}}), json!({"item": "ink"}), true),
        ("$not $regex on a missing field", json!({"item": {"$not": {"$regex": "^p.*"}}}), json!({}), true),
        ("$not $regex with $options", json!({"item": {"$not": {"$regex": "^P", "$options": "i"}}}), json!({"item": "pen"}), false),
    ];
    check_table(table);
}

#[test]
fn arrays_dotted_paths_and_indexes() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("exact array, same order [array: match an array]", json!({"tags": ["red", "blank"]}), json!({"tags": ["red", "blank"]}), true),
        ("exact array: order matters [array]", json!({"tags": ["red", "blank"]}), json!({"tags": ["blank", "red"]}), false),
        ("exact array: extra elements fail [array]", json!({"tags": ["red", "blank"]}), json!({"tags": ["red", "blank", "plain"]}), false),
        ("array contains the element [array: query for an element]", json!({"tags": "red"}), json!({"tags": ["blank", "red"]}), true),
        ("array lacks the element", json!({"tags": "red"}), json!({"tags": ["blue"]}), false),
        ("an array value also matches an array element [$eq: array value]", json!({"tags": {"$eq": ["A", "B"]}}), json!({"tags": [["A", "B"], "C"]}), true),
        ("empty array equals empty array", json!({"a": []}), json!({"a": []}), true),
        ("empty array matches an element that is []", json!({"a": []}), json!({"a": [[], 1]}), true),
        ("arrays inside arrays are not searched for scalars", json!({"a": 1}), json!({"a": [[1]]}), false),
        ("index position [array: query by index]", json!({"dim_cm.1": {"$gt": 25}}), json!({"dim_cm": [22.85, 30]}), true),
        ("index position, other element [array]", json!({"dim_cm.1": {"$gt": 25}}), json!({"dim_cm": [14, 21]}), false),
        ("index position 0 is the first element", json!({"dim_cm.0": {"$gt": 25}}), json!({"dim_cm": [22.85, 30]}), false),
        ("index equality", json!({"tags.0": "red"}), json!({"tags": ["red", "blank"]}), true),
        ("index beyond the end reaches nothing", json!({"tags.5": {"$exists": false}}), json!({"tags": ["red"]}), true),
        ("index beyond the end is not null", json!({"tags.5": null}), json!({"tags": ["red"]}), false),
        ("a numeric segment on an object is a field name", json!({"a.0": "x"}), json!({"a": {"0": "x"}}), true),
        // [path.cpp] compares the segment with element names "0", "1", …, so "01" names no element.
        ("\"01\" is not an array index [path.cpp]", json!({"a.01": 5}), json!({"a": [0, 5]}), false),
        // [path.cpp] yields the indexed element whole: an array there is not searched.
        ("a value picked by index is taken whole [path.cpp]", json!({"a.0": 1}), json!({"a": [[1, 2]]}), false),
        ("a value picked by index equals the whole array", json!({"a.0": [1, 2]}), json!({"a": [[1, 2]]}), true),
        ("a leaf array reached by field name is searched", json!({"a.0": 1}), json!({"a": {"0": [1, 2]}}), true),
        ("an element document [array-docs: match an embedded document]", json!({"instock": {"warehouse": "A", "qty": 5}}), json!({"instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]}), true),
        ("an element document: field order matters [array-docs]", json!({"instock": {"qty": 5, "warehouse": "A"}}), json!({"instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]}), false),
        ("a field in an array of documents [array-docs]", json!({"instock.qty": {"$lte": 20}}), json!({"instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]}), true),
        ("a field in an array of documents: none qualifies", json!({"instock.qty": {"$lte": 20}}), json!({"instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 50}]}), false),
        ("index then field [array-docs: use the array index]", json!({"instock.0.qty": {"$lte": 20}}), json!({"instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]}), true),
        ("index then field: only the first element counts [array-docs]", json!({"instock.0.qty": {"$lte": 20}}), json!({"instock": [{"warehouse": "B", "qty": 40}, {"warehouse": "A", "qty": 5}]}), false),
        ("index then field: the second element", json!({"a.1.b": 2}), json!({"a": [{"b": 1}, {"b": 2}]}), true),
        // Surprising: the conditions of one field may be met by different elements.
        ("range met by a combination of elements [array-docs: combination]", json!({"instock.qty": {"$gt": 10, "$lte": 20}}), json!({"instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "B", "qty": 40}]}), true),
        ("two fields met by different elements [array-docs: combination]", json!({"instock.qty": 5, "instock.warehouse": "A"}), json!({"instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]}), true),
        ("a leaf array under an array of documents is searched", json!({"a.b": 2}), json!({"a": [{"b": [1, 2]}]}), true),
        ("arrays of documents at two levels", json!({"a.b.c": 1}), json!({"a": [{"b": [{"c": 2}, {"c": 1}]}]}), true),
        ("documents inside an array inside an array are not walked", json!({"a.b": 1}), json!({"a": [[{"b": 1}]]}), false),
        ("a dotted path into an object inside an object", json!({"a.b.c": 1}), json!({"a": {"b": {"c": 1}}}), true),
        ("a dotted path through a scalar reaches nothing equal to 1", json!({"a.b": 1}), json!({"a": 1}), false),
    ];
    check_table(table);
}

#[test]
fn size() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("two elements [$size]", json!({"field": {"$size": 2}}), json!({"field": ["red", "green"]}), true),
        ("three elements [$size]", json!({"field": {"$size": 2}}), json!({"field": ["orange", "lemon", "grapefruit"]}), false),
        ("not an array [$size]", json!({"field": {"$size": 1}}), json!({"field": "fruit"}), false),
        ("size 0 on an empty array", json!({"a": {"$size": 0}}), json!({"a": []}), true),
        ("size 0 on a missing field", json!({"a": {"$size": 0}}), json!({}), false),
        ("size 0 on null", json!({"a": {"$size": 0}}), json!({"a": null}), false),
        ("size counts the outer array only", json!({"a": {"$size": 1}}), json!({"a": [[1, 2]]}), true),
        ("size does not look into nested arrays", json!({"a": {"$size": 2}}), json!({"a": [[1, 2]]}), false),
        ("a whole-number double is a size", json!({"a": {"$size": 1.0}}), json!({"a": [5]}), true),
        ("size through an array of documents", json!({"a.b": {"$size": 2}}), json!({"a": [{"b": [1]}, {"b": [1, 2]}]}), true),
        ("size of an object is not a size", json!({"a": {"$size": 1}}), json!({"a": {"x": 1}}), false),
        ("no ranges: $not $size instead [$size]", json!({"a": {"$not": {"$size": 2}}}), json!({"a": [1]}), true),
    ];
    check_table(table);
}

#[test]
fn all() {
    let xyz = json!({"tags": ["school", "book", "bag", "headphone", "appliance"], "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 45, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}]});
    let abc = json!({"tags": ["appliance", "school", "book"], "qty": [{"size": "6", "num": 100, "color": "green"}, {"size": "6", "num": 50, "color": "blue"}, {"size": "8", "num": 100, "color": "brown"}]});
    let efg = json!({"tags": ["school", "book"], "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 100, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}]});
    let ijk = json!({"tags": ["electronics", "school"], "qty": [{"size": "M", "num": 100, "color": "green"}]});
    let values = json!({"tags": {"$all": ["appliance", "school", "book"]}});
    let elem_matches = json!({"qty": {"$all": [
        {"$elemMatch": {"size": "M", "num": {"$gt": 50}}},
        {"$elemMatch": {"num": 100, "color": "green"}},
    ]}});
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("all values, any order [$all]", values.clone(), xyz.clone(), true),
        ("all values, exactly those [$all]", values.clone(), abc.clone(), true),
        ("a value is missing [$all]", values.clone(), efg.clone(), false),
        ("none of the values [$all]", values, ijk.clone(), false),
        ("order does not matter: arrays as sets [$all]", json!({"tags": {"$all": ["red", "blank"]}}), json!({"tags": ["blank", "red"]}), true),
        ("$all $elemMatch: both criteria met [$all with $elemMatch]", elem_matches.clone(), efg, true),
        ("$all $elemMatch: one element meets both [$all with $elemMatch]", elem_matches.clone(), ijk, true),
        ("$all $elemMatch: no M above 50 [$all with $elemMatch]", elem_matches.clone(), xyz, false),
        ("$all $elemMatch: no M at all [$all with $elemMatch]", elem_matches, abc, false),
        ("a non-array field equal to the single value [$all]", json!({"qty": {"$all": [50]}}), json!({"qty": 50}), true),
        ("a non-array field, other value [$all]", json!({"qty": {"$all": [50]}}), json!({"qty": 51}), false),
        ("an empty $all matches no documents [$all: empty array]", json!({"tags": {"$all": []}}), json!({"tags": []}), false),
        ("an empty $all matches no documents, not even arrays", json!({"tags": {"$all": []}}), json!({"tags": ["a"]}), false),
        ("nested array equals the field [$all: nested array]", json!({"tags": {"$all": [["ssl", "security"]]}}), json!({"tags": ["ssl", "security"]}), true),
        ("nested array is an element [$all: nested array]", json!({"tags": {"$all": [["ssl", "security"]]}}), json!({"tags": [["ssl", "security"], "x"]}), true),
        ("nested array: order matters inside", json!({"tags": {"$all": [["ssl", "security"]]}}), json!({"tags": ["security", "ssl"]}), false),
        ("a repeated value needs only one element", json!({"tags": {"$all": ["a", "a"]}}), json!({"tags": ["a"]}), true),
        ("a missing field", json!({"tags": {"$all": ["a"]}}), json!({}), false),
        ("numbers by value", json!({"a": {"$all": [1]}}), json!({"a": [1.0]}), true),
        ("values met in different documents of an array", json!({"a.b": {"$all": [1, 2]}}), json!({"a": [{"b": 1}, {"b": 2}]}), true),
        ("$all [null] matches a missing field (equality with null)", json!({"a": {"$all": [null]}}), json!({}), true),
    ];
    check_table(table);
}

#[test]
fn elem_match() {
    let survey = |results: Value| json!({"results": results});
    let xyz_at_least_8 = json!({"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}});
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("one element in range [$elemMatch]", json!({"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}), json!({"results": [82, 85, 88]}), true),
        ("no single element in range [$elemMatch]", json!({"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}), json!({"results": [75, 88, 89]}), false),
        ("without $elemMatch, different elements may meet each condition", json!({"results": {"$gte": 80, "$lt": 85}}), json!({"results": [75, 88, 89]}), true),
        ("one element in range [array: $elemMatch]", json!({"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}}), json!({"dim_cm": [22.85, 30]}), true),
        ("no element in range [array: $elemMatch]", json!({"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}}), json!({"dim_cm": [14, 21]}), false),
        ("document: one element meets both [$elemMatch: array of embedded documents]", xyz_at_least_8.clone(), survey(json!([{"product": "abc", "score": 7}, {"product": "xyz", "score": 8}])), true),
        ("document: xyz scores too low [$elemMatch]", xyz_at_least_8.clone(), survey(json!([{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}])), false),
        ("document: criteria met by different elements is not enough [$elemMatch]", xyz_at_least_8, survey(json!([{"product": "abc", "score": 8}, {"product": "xyz", "score": 7}])), false),
        ("document: field order does not matter inside $elemMatch [array-docs]", json!({"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}}), json!({"instock": [{"warehouse": "A", "qty": 5}]}), true),
        ("document: the two fields in different elements [array-docs]", json!({"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}}), json!({"instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]}), false),
        ("document: a range on one field [array-docs]", json!({"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}}), json!({"instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "B", "qty": 40}]}), false),
        ("single condition equals a dotted query [$elemMatch: single query condition]", json!({"results": {"$elemMatch": {"product": "xyz"}}}), survey(json!([{"product": "abc"}, {"product": "xyz"}])), true),
        // Surprising: with $ne, $elemMatch asks for one element that differs; the dotted form asks that none equal.
        ("$ne inside $elemMatch: one element differs [$elemMatch: single query condition]", json!({"results": {"$elemMatch": {"product": {"$ne": "xyz"}}}}), survey(json!([{"product": "abc"}, {"product": "xyz"}])), true),
        ("$ne on the dotted path: no element may equal [$elemMatch: single query condition]", json!({"results.product": {"$ne": "xyz"}}), survey(json!([{"product": "abc"}, {"product": "xyz"}])), false),
        ("$ne inside $elemMatch on values", json!({"a": {"$elemMatch": {"$ne": 5}}}), json!({"a": [5, 6]}), true),
        ("$ne without $elemMatch on values", json!({"a": {"$ne": 5}}), json!({"a": [5, 6]}), false),
        ("needs an array: a scalar [jstest: testElemMatchQueriesWithNoArrays]", json!({"a": {"$elemMatch": {"$gte": 1}}}), json!({"a": 5}), false),
        ("needs an array: a missing field [jstest]", json!({"a": {"$elemMatch": {"$eq": null}}}), json!({}), false),
        ("needs an array: an object [jstest]", json!({"a": {"$elemMatch": {"b": {"$eq": null}}}}), json!({"a": {"b": null}}), false),
        ("needs an array at a.b [jstest: testDottedElemMatchValue]", json!({"a.b": {"$elemMatch": {"$eq": null}}}), json!({"a": {"b": null}}), false),
        ("$eq null: an element is null [jstest: testElemMatchValue]", json!({"a": {"$elemMatch": {"$eq": null}}}), json!({"a": [1, "string", null, 4]}), true),
        ("$eq null: no element is null [jstest]", json!({"a": {"$elemMatch": {"$eq": null}}}), json!({"a": [1, "string", 4]}), false),
        ("$ne null: an array of arrays [jstest: a_double_array]", json!({"a": {"$elemMatch": {"$ne": null}}}), json!({"a": [[]]}), true),
        ("query: an element lacks b [jstest: testElemMatchObject]", json!({"a": {"$elemMatch": {"b": {"$eq": null}}}}), json!({"a": [{"b": 3}, {}]}), true),
        // Surprising: an element that is an array is queried as a document with fields "0", "1", …
        ("query: an element that is an array lacks b [jstest: a_double_array]", json!({"a": {"$elemMatch": {"b": {"$eq": null}}}}), json!({"a": [[]]}), true),
        ("query: $ne null on an array element [jstest: a_double_array excluded]", json!({"a": {"$elemMatch": {"b": {"$ne": null}}}}), json!({"a": [[]]}), false),
        ("query: an array element's fields are its indexes", json!({"a": {"$elemMatch": {"0": 1}}}), json!({"a": [[1, 2]]}), true),
        ("query: scalar elements are not documents", json!({"a": {"$elemMatch": {"b": 1}}}), json!({"a": [1, 2]}), false),
        ("query: scalar elements do not match a null query", json!({"a": {"$elemMatch": {"b": null}}}), json!({"a": [1, 2]}), false),
        ("query: $or inside $elemMatch", json!({"a": {"$elemMatch": {"$or": [{"b": 1}, {"c": 1}]}}}), json!({"a": [{"c": 1}]}), true),
        ("query: $and inside $elemMatch, different elements", json!({"a": {"$elemMatch": {"$and": [{"b": 1}, {"c": 1}]}}}), json!({"a": [{"b": 1}, {"c": 1}]}), false),
        // An element inside $elemMatch is taken whole: an element that is an array is not searched.
        ("operators: an array element is not searched for $gt", json!({"a": {"$elemMatch": {"$gt": 1}}}), json!({"a": [[2]]}), false),
        ("operators: an array element is not searched for $eq", json!({"a": {"$elemMatch": {"$eq": 1}}}), json!({"a": [[1]]}), false),
        ("operators: an array element equals an array", json!({"a": {"$elemMatch": {"$eq": [1]}}}), json!({"a": [[1]]}), true),
        ("operators: $size of an element", json!({"a": {"$elemMatch": {"$size": 1}}}), json!({"a": [[7], 3]}), true),
        ("operators: nested $elemMatch", json!({"a": {"$elemMatch": {"$elemMatch": {"$gt": 1}}}}), json!({"a": [[0, 2]]}), true),
        ("operators: $regex on elements", json!({"a": {"$elemMatch": {"$regex": "^x"}}}), json!({"a": ["a", "xy"]}), true),
        ("operators: $in on elements", json!({"a": {"$elemMatch": {"$in": [3, 4]}}}), json!({"a": [1, 4]}), true),
        ("operators: $not inside $elemMatch", json!({"a": {"$elemMatch": {"$not": {"$gt": 1}}}}), json!({"a": [5, 0]}), true),
        ("an array of documents reached by a dotted path", json!({"a.b": {"$elemMatch": {"c": 1}}}), json!({"a": [{"b": [{"c": 1}]}]}), true),
        ("an empty array has no element", json!({"a": {"$elemMatch": {"$exists": true}}}), json!({"a": []}), false),
    ];
    check_table(table);
}

#[test]
fn not() {
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("$not $gt: less or equal [$not]", json!({"price": {"$not": {"$gt": 1.99}}}), json!({"price": 1.99}), true),
        ("$not $gt: greater [$not]", json!({"price": {"$not": {"$gt": 1.99}}}), json!({"price": 2.5}), false),
        // Surprising: $not matches documents without the field, unlike the opposite operator.
        ("$not $gt matches a missing field [$not]", json!({"price": {"$not": {"$gt": 1.99}}}), json!({}), true),
        ("$lte does not match a missing field [$not: contrast]", json!({"price": {"$lte": 1.99}}), json!({}), false),
        ("$not $gt matches a non-number (type bracketing) [$not]", json!({"price": {"$not": {"$gt": 1.99}}}), json!({"price": "cheap"}), true),
        ("$not on an array: one element is $gt [$not: arrays]", json!({"a": {"$not": {"$gt": 5}}}), json!({"a": [1, 10]}), false),
        ("$not on an array: no element is $gt", json!({"a": {"$not": {"$gt": 5}}}), json!({"a": [1, 2]}), true),
        ("$not of two operators negates their conjunction", json!({"a": {"$not": {"$gt": 1, "$lt": 5}}}), json!({"a": 3}), false),
        ("$not of two operators, outside the range", json!({"a": {"$not": {"$gt": 1, "$lt": 5}}}), json!({"a": 7}), true),
        ("$not $eq null is $ne null on a missing field", json!({"a": {"$not": {"$eq": null}}}), json!({}), false),
        ("$not $in", json!({"a": {"$not": {"$in": [1, 2]}}}), json!({"a": 3}), true),
        ("$not $exists true matches a missing field", json!({"a": {"$not": {"$exists": true}}}), json!({}), true),
        ("$not $elemMatch", json!({"a": {"$not": {"$elemMatch": {"$gt": 5}}}}), json!({"a": [1, 2]}), true),
        ("$not $gte null matches an empty array [jstest: testBasicNotEqualsGTENullQuery]", json!({"a": {"$not": {"$gte": null}}}), json!({"a": []}), true),
        ("$not $gte null excludes an array holding null [jstest]", json!({"a": {"$not": {"$gte": null}}}), json!({"a": [1, null]}), false),
        ("$not $gte null excludes a missing field [jstest]", json!({"a": {"$not": {"$gte": null}}}), json!({}), false),
        ("$not beside another operator", json!({"a": {"$not": {"$gt": 5}, "$gt": 1}}), json!({"a": 3}), true),
    ];
    check_table(table);
}

#[test]
fn and_or_nor() {
    let nor = json!({"$nor": [{"price": 1.99}, {"sale": true}]});
    let nor_exists =
        json!({"$nor": [{"price": 1.99}, {"price": {"$exists": false}}, {"sale": true}, {"sale": {"$exists": false}}]});
    let and = json!({"$and": [{"price": {"$ne": 1.99}}, {"price": {"$exists": true}}]});
    let or = json!({"$or": [{"quantity": {"$lt": 20}}, {"price": 10}]});
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("$and: both hold [$and]", and.clone(), json!({"price": 2}), true),
        ("$and: $ne holds on a missing field but $exists does not [$and]", and.clone(), json!({}), false),
        ("$and: $ne fails [$and]", and, json!({"price": 1.99}), false),
        ("$and of two fields", json!({"$and": [{"a": 1}, {"b": 2}]}), json!({"a": 1, "b": 3}), false),
        ("$and on the same field twice", json!({"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 5}}]}), json!({"a": 3}), true),
        ("$or: the first holds [$or]", or.clone(), json!({"quantity": 5, "price": 1}), true),
        ("$or: the second holds [$or]", or.clone(), json!({"quantity": 30, "price": 10}), true),
        ("$or: neither holds [$or]", or.clone(), json!({"quantity": 30, "price": 11}), false),
        ("$or: a missing field fails $lt [$or]", or, json!({"price": 11}), false),
        ("$nor: price matches [$nor]", nor.clone(), json!({"price": 1.99, "sale": false}), false),
        ("$nor: neither matches [$nor]", nor.clone(), json!({"price": 2, "sale": false}), true),
        ("$nor: price differs and sale is missing [$nor]", nor.clone(), json!({"price": 2}), true),
        ("$nor: both missing [$nor]", nor.clone(), json!({}), true),
        ("$nor: sale matches [$nor]", nor, json!({"sale": true}), false),
        ("$nor with $exists: both present and different [$nor and $exists]", nor_exists.clone(), json!({"price": 2, "sale": false}), true),
        ("$nor with $exists: sale missing [$nor and $exists]", nor_exists, json!({"price": 2}), false),
        ("nested $or of $and: the $and holds", json!({"$or": [{"$and": [{"a": 1}, {"b": 1}]}, {"c": 1}]}), json!({"a": 1, "b": 1}), true),
        ("nested $or of $and: neither holds", json!({"$or": [{"$and": [{"a": 1}, {"b": 1}]}, {"c": 1}]}), json!({"a": 1}), false),
        ("a logical operator beside a field", json!({"$or": [{"a": 1}, {"a": 2}], "b": 1}), json!({"a": 2, "b": 1}), true),
        ("a logical operator beside a field that fails", json!({"$or": [{"a": 1}, {"a": 2}], "b": 1}), json!({"a": 2, "b": 2}), false),
        ("$or and $nor together", json!({"$or": [{"a": 1}], "$nor": [{"b": 1}]}), json!({"a": 1, "b": 1}), false),
        ("$and with an empty query inside holds", json!({"$and": [{}]}), json!({"a": 1}), true),
        ("$nor with an empty query inside never holds", json!({"$nor": [{}]}), json!({"a": 1}), false),
    ];
    check_table(table);
}

#[test]
fn embedded_documents() {
    let journal = json!({"item": "journal", "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"});
    let paper = json!({"item": "paper", "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D"});
    #[rustfmt::skip]
    let table: &[Case] = &[
        ("whole embedded document [embedded: match an embedded document]", json!({"size": {"h": 14, "w": 21, "uom": "cm"}}), journal.clone(), true),
        // Surprising: equality of embedded documents depends on the order of the fields.
        ("field order matters [embedded: exact match including field order]", json!({"size": {"w": 21, "h": 14, "uom": "cm"}}), journal.clone(), false),
        ("all fields are needed [embedded]", json!({"size": {"h": 14, "w": 21}}), journal.clone(), false),
        ("numbers by value inside documents", json!({"size": {"h": 14.0, "w": 21, "uom": "cm"}}), journal.clone(), true),
        ("a nested field [embedded: query on nested field]", json!({"size.uom": "cm"}), journal.clone(), true),
        ("a nested field, other value", json!({"size.uom": "in"}), journal.clone(), false),
        ("an operator on a nested field [embedded]", json!({"size.h": {"$lt": 15}}), journal, true),
        ("several nested fields and a field [embedded: AND condition]", json!({"size.h": {"$lt": 15}, "size.uom": "in", "status": "D"}), paper.clone(), true),
        ("several nested fields, one fails [embedded]", json!({"size.h": {"$lt": 15}, "size.uom": "in", "status": "A"}), paper, false),
        ("deep equality", json!({"a": {"b": {"c": 1}}}), json!({"a": {"b": {"c": 1}}}), true),
        ("deep equality with an extra field", json!({"a": {"b": {"c": 1}}}), json!({"a": {"b": {"c": 1, "d": 2}}}), false),
        ("empty document equals empty document", json!({"a": {}}), json!({"a": {}}), true),
        ("empty document does not equal a document with fields", json!({"a": {}}), json!({"a": {"b": 1}}), false),
        ("empty document does not equal a missing field", json!({"a": {}}), json!({}), false),
        ("$eq an embedded document [$eq]", json!({"item": {"$eq": {"name": "ab", "code": "123"}}}), json!({"item": {"name": "ab", "code": "123"}}), true),
        ("$eq an embedded document held in an array", json!({"a": {"$eq": {"b": 1}}}), json!({"a": [{"b": 1}, {"c": 2}]}), true),
        ("$ne an equal embedded document", json!({"a": {"$ne": {"b": 1}}}), json!({"a": {"b": 1}}), false),
        ("$in embedded documents: field order matters", json!({"a": {"$in": [{"b": 1, "c": 2}]}}), json!({"a": {"c": 2, "b": 1}}), false),
        ("an embedded document is not its fields' array", json!({"a": {"0": 1}}), json!({"a": [1]}), false),
        ("a literal object whose first key is not an operator is a value", json!({"a": {"b": 1, "$c": 2}}), json!({"a": {"b": 1, "$c": 2}}), true),
    ];
    check_table(table);
}

// ---- compile errors ----

/// The problems of a query that must not compile.
fn problems(query: &Value) -> Vec<Problem> {
    match Condition::compile(query) {
        Ok(_) => panic!("{query} compiled but should not"),
        Err(problems) => problems,
    }
}

#[test]
fn compile_errors_name_the_place() {
    // (name, query, the one pointer, a fragment of its message)
    #[rustfmt::skip]
    let table: &[(&str, Value, &str, &str)] = &[
        ("$in needs an array", json!({"data.a": {"$in": 5}}), "/data.a/$in", "array"),
        ("$nin needs an array", json!({"a": {"$nin": "x"}}), "/a/$nin", "array"),
        ("$in items cannot be operators", json!({"a": {"$in": [1, {"$gt": 1}]}}), "/a/$in/1", "operator"),
        ("$size may not be negative", json!({"a": {"$size": -1}}), "/a/$size", "whole number"),
        ("$size must be a whole number", json!({"a": {"$size": 1.5}}), "/a/$size", "whole number"),
        ("$size needs a number", json!({"a": {"$size": "2"}}), "/a/$size", "whole number"),
        ("$regex needs a string", json!({"a": {"$regex": 5}}), "/a/$regex", "string"),
        ("$options without $regex", json!({"a": {"$options": "i"}}), "/a/$options", "$regex"),
        ("$options: the g modifier is not supported [$regex]", json!({"a": {"$regex": "x", "$options": "g"}}), "/a/$options", "'g'"),
        ("$options needs a string", json!({"a": {"$regex": "x", "$options": 1}}), "/a/$options", "string"),
        ("a regex that does not compile", json!({"a": {"$regex": "("}}), "/a/$regex", "does not compile"),
        ("a bad regex under $not", json!({"a": {"$not": {"$regex": "["}}}), "/a/$not/$regex", "does not compile"),
        ("$not needs an object of operators", json!({"a": {"$not": 5}}), "/a/$not", "$not"),
        ("$not cannot be empty", json!({"a": {"$not": {}}}), "/a/$not", "$not"),
        ("$not of a plain document", json!({"a": {"$not": {"b": 1}}}), "/a/$not", "$not"),
        ("$and needs a non-empty array", json!({"$and": []}), "/$and", "non-empty"),
        ("$or needs an array", json!({"$or": {"a": 1}}), "/$or", "non-empty"),
        ("$nor items must be objects", json!({"$nor": [{"a": 1}, 5]}), "/$nor/1", "object"),
        ("a typo gets a suggestion", json!({"a": {"$exist": true}}), "/a/$exist", "did you mean $exists"),
        ("an unknown operator", json!({"a": {"$type": "string"}}), "/a/$type", "unknown operator $type"),
        ("operators and fields mixed", json!({"a": {"$gt": 1, "b": 2}}), "/a/b", "not an operator"),
        ("a field operator at the top", json!({"$gt": 1}), "/$gt", "top-level"),
        ("$where is not supported", json!({"$where": "true"}), "/$where", "top-level"),
        ("a logical operator inside a field", json!({"a": {"$or": [{"b": 1}]}}), "/a/$or", "unknown operator"),
        ("$exists needs a boolean", json!({"a": {"$exists": "yes"}}), "/a/$exists", "true or false"),
        ("$all needs an array", json!({"a": {"$all": 5}}), "/a/$all", "array"),
        ("$all cannot hold operators", json!({"a": {"$all": [{"$gt": 1}]}}), "/a/$all/0", "operator"),
        ("$all/$elemMatch has to be consistent", json!({"a": {"$all": [{"$elemMatch": {"b": 1}}, 5]}}), "/a/$all/1", "$elemMatch"),
        ("$all values then $elemMatch", json!({"a": {"$all": [5, {"$elemMatch": {"b": 1}}]}}), "/a/$all/1", "$elemMatch"),
        ("$elemMatch inside $all needs an object", json!({"a": {"$all": [{"$elemMatch": 5}]}}), "/a/$all/0/$elemMatch", "$elemMatch"),
        ("$elemMatch needs an object", json!({"a": {"$elemMatch": 5}}), "/a/$elemMatch", "$elemMatch"),
        ("$elemMatch mixes operators and fields", json!({"a": {"$elemMatch": {"$gt": 1, "b": 1}}}), "/a/$elemMatch/b", "not an operator"),
        ("an error deep in $elemMatch's query", json!({"a": {"$elemMatch": {"b": {"$size": "x"}}}}), "/a/$elemMatch/b/$size", "whole number"),
        ("a query that is not an object", json!(5), "", "must be an object"),
        ("a query that is an array", json!([{"a": 1}]), "", "must be an object"),
        ("an empty segment in a path", json!({"a..b": 1}), "/a..b", "not a field path"),
        ("an empty path", json!({"": 1}), "/", "not a field path"),
        ("a path ending with a dot", json!({"a.": 1}), "/a.", "not a field path"),
        ("pointer tokens are escaped", json!({"a/b~c": {"$in": 1}}), "/a~1b~0c/$in", "array"),
        ("inside $and, the pointer goes through the index", json!({"$and": [{"a": 1}, {"b": {"$gt": 1, "$foo": 2}}]}), "/$and/1/b/$foo", "unknown operator"),
    ];
    for (name, query, pointer, fragment) in table {
        let found = problems(query);
        let pointers: Vec<&str> = found.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, [*pointer], "case {name:?}: {query} gave {found:?}");
        assert!(found[0].is_error(), "case {name:?}: not an error: {found:?}");
        assert!(
            found[0].message.contains(fragment),
            "case {name:?}: message {:?} lacks {fragment:?}",
            found[0].message
        );
    }
}

#[test]
fn compile_reports_every_problem_at_once() {
    let query = json!({
        "data.a": {"$in": 5},
        "data.b": {"$size": -1, "$exist": true},
        "data.c": {"$regex": "(", "$options": "q"},
        "$or": [{"c": {"$not": 5}}, 7],
        "$gt": 1,
        "data.d": {"$all": [{"$elemMatch": {"x": {"$in": "y"}}}, 3]},
    });
    let mut pointers: Vec<String> = problems(&query).into_iter().map(|p| p.pointer).collect();
    pointers.sort();
    let mut expected = vec![
        "/data.a/$in",
        "/data.b/$size",
        "/data.b/$exist",
        "/data.c/$regex",
        "/data.c/$options",
        "/$or/0/c/$not",
        "/$or/1",
        "/$gt",
        "/data.d/$all/0/$elemMatch/x/$in",
        "/data.d/$all/1",
    ];
    expected.sort_unstable();
    assert_eq!(pointers, expected);
}

#[test]
fn a_good_regex_with_a_bad_option_reports_only_the_option() {
    let found = problems(&json!({"a": {"$regex": "^x", "$options": "ig"}}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/a/$options");
}

#[test]
fn field_paths_lists_every_path_read() {
    let condition = Condition::compile(&json!({
        "data.a": 1,
        "$or": [{"ticket.b": {"$gt": 1}}, {"$nor": [{"c": null}]}],
    }))
    .unwrap();
    assert_eq!(condition.field_paths(), ["data.a", "ticket.b", "c"]);
}

// ---- properties ----

/// Keys that exercise the compiler: every operator, near misses, paths, and random text.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(OPERATORS).prop_map(str::to_owned),
        prop::sample::select(&["a", "b", "a.b", "a.0", "a.0.b", "0", "$exist", "$where", "a..b", "", "."][..])
            .prop_map(str::to_owned),
        "[ab0-2$.]{0,4}",
        any::<String>(),
    ]
}

/// Small JSON values, nested a few levels deep, with objects keyed by [`key`].
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..5).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-c^$.*+?()\\[\\]{}|\\\\]{0,5}".prop_map(Value::String),
        prop::sample::select(&["i", "m", "s", "x", "u", "g", "imsx"][..]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Queries: arbitrary values, and `{path: {operator: operand}}` shapes that reach every operator.
fn query() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        (key(), prop::sample::select(OPERATORS), json_value())
            .prop_map(|(path, operator, operand)| json!({ path: { operator: operand } })),
        (key(), json_value(), key(), json_value())
            .prop_map(|(path, operand, other, value)| json!({ path: operand, other: value })),
    ]
}

/// Documents that often hold `a`.
fn document() -> impl Strategy<Value = Value> {
    prop_oneof![json_value(), json_value().prop_map(|a| json!({ "a": a }))]
}

fn path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["a", "a.b", "a.0", "a.0.b", "a.b.c"][..])
}

fn holds(query: &Value, document: &Value) -> bool {
    Condition::compile(query).unwrap().matches(document)
}

proptest! {
    #[test]
    fn compile_and_matches_never_panic(query in query(), document in json_value()) {
        if let Ok(condition) = Condition::compile(&query) {
            let _ = condition.matches(&document);
            let _ = condition.field_paths();
        }
    }

    #[test]
    fn ne_is_not_eq(path in path(), value in json_value(), document in document()) {
        let eq = holds(&json!({ path: { "$eq": &value } }), &document);
        prop_assert_eq!(holds(&json!({ path: { "$ne": &value } }), &document), !eq);
        prop_assert_eq!(holds(&json!({ path: { "$not": { "$eq": &value } } }), &document), !eq);
        if !is_operator_object(&value) {
            // Implicit equality, and $in of one value, are $eq (an operator object would be read as operators).
            prop_assert_eq!(holds(&json!({ path: &value }), &document), eq);
            prop_assert_eq!(holds(&json!({ path: { "$in": [&value] } }), &document), eq);
        }
    }

    #[test]
    fn nin_is_not_in(path in path(), values in prop::collection::vec(json_value(), 0..4), document in document()) {
        let in_query = Condition::compile(&json!({ path: { "$in": &values } }));
        let nin_query = Condition::compile(&json!({ path: { "$nin": &values } }));
        match (in_query, nin_query) {
            (Ok(in_query), Ok(nin_query)) => {
                prop_assert_eq!(nin_query.matches(&document), !in_query.matches(&document));
            }
            (Err(_), Err(_)) => {} // an operator among the values: both refuse it
            (in_query, nin_query) => {
                prop_assert!(false, "$in and $nin disagree on compiling: {:?} / {:?}", in_query.err(), nin_query.err());
            }
        }
    }

    #[test]
    fn nor_is_not_the_query(query in query(), document in document()) {
        if let Ok(condition) = Condition::compile(&query) {
            prop_assert_eq!(holds(&json!({ "$nor": [&query] }), &document), !condition.matches(&document));
        }
    }
}
