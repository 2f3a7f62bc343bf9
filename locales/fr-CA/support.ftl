# Sondage de satisfaction (placement support.survey).

support-survey-default-title = Comment avons-nous fait?
support-survey-default-body =
    { $channel ->
        [email] Ça ne prend que deux minutes. Cliquez sur le bouton ci-dessous pour nous donner vos commentaires.
        [mobile_app] Touchez ci-dessous et répondez à trois petites questions sur l'application.
       *[other] Répondez à trois petites questions et aidez-nous à améliorer Northwind.
    }
support-survey-cta-label = Répondre au sondage

support-survey-chat-title = Évaluez ce clavardage
support-survey-chat-body = Notre équipe a-t-elle réglé votre problème aujourd'hui? Dites-le-nous en un clic.

support-survey-buyer-title = { $first_name }, comment s'est passée votre commande?
    .anonymous = Comment s'est passée votre commande?
support-survey-buyer-body =
    { $order_count ->
        [one] Merci pour votre première commande!
       *[other] Merci pour vos { $order_count } commandes!
    } Évaluez votre dernière livraison en moins d'une minute.
    .anonymous = Merci de magasiner chez nous! Évaluez votre dernière livraison en moins d'une minute.
