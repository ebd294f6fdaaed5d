{#- The grain of a model: no two rows share these columns (nulls compare equal, e.g. a blank endpoint). -#}
{% test unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
